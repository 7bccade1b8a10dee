import { readFileSync } from 'node:fs';
import type { KeyEvent } from '../core/key-event.ts';
import type { OperationName } from '../core/operations.ts';
import { event, type DetectorCases } from './cases.ts';

const T0 = Date.parse('2026-03-02T03:12:00Z');
const NOW = '2026-03-02T06:00:00Z';
const RANGE = { from: '2026-03-02T03:00:00Z', to: '2026-03-02T04:00:00Z' };
const DAY = 86_400_000;
const ACCOUNT = '111122223333';
const key = (i: number) => `arn:aws:kms:eu-west-1:${ACCOUNT}:key/1b2c3d4e-0000-4000-8000-${String(i).padStart(12, '0')}`;

const ch = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/** One kind of call: the normalized operation, its vendor name and how many of it. */
type Mix = readonly (readonly [OperationName, string, number])[];

/**
 * The calls of `mix`, interleaved and spread evenly over `spanMs` from `startMs`, on `keys`
 * keys in turn (the first key gets the most).
 */
function calls(startMs: number, mix: Mix, e: Partial<KeyEvent> = {}, spanMs = 55_000, keys = 8): KeyEvent[] {
  const kinds = mix.flatMap(([operation, vendor_operation, n]) => Array.from({ length: n }, () => ({ operation, vendor_operation })));
  // Round-robin over the kinds, so every stretch of the minute has a bit of each.
  const order = [...kinds.keys()].sort((a, b) => (a % 7) - (b % 7) || a - b);
  return order.map((k, i) =>
    event({
      key_id: key(i % 3 === 0 ? 0 : i % keys),
      ...kinds[k],
      ...e,
      event_time: ch(startMs + Math.floor((i * spanMs) / order.length)),
    }),
  );
}

// A script with stolen credentials: enumerate keys and policies, then decrypt and grant.
const SWEEP: Mix = [
  ['list', 'ListKeys', 10],
  ['list', 'ListAliases', 10],
  ['describe', 'DescribeKey', 40],
  ['describe', 'GetKeyPolicy', 40],
  ['list', 'ListGrants', 20],
  ['decrypt', 'Decrypt', 30],
  ['create_grant', 'CreateGrant', 5],
];
const MALLORY = { principal: `arn:aws:iam::${ACCOUNT}:user/mallory`, principal_type: 'user' as const, source_ip: '203.0.113.66' };
// A compliance scanner's nightly sweep: reads only, five kinds.
const SCAN: Mix = [
  ['list', 'ListKeys', 20],
  ['describe', 'DescribeKey', 50],
  ['describe', 'GetKeyPolicy', 50],
  ['describe', 'GetKeyRotationStatus', 20],
  ['list', 'ListResourceTags', 10],
];
const SCANNER = { principal: `arn:aws:iam::${ACCOUNT}:role/cspm-scanner`, principal_type: 'role' as const };

type Json = Record<string, any>;
const fixture = (path: string) => JSON.parse(readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')) as Json;

/** Key Vault AuditEvent records by one application within a minute: the SQL TDE fixture with other operation names. */
function azureSweep(): string[] {
  const base = fixture('ingest/azure-key-vault/fixtures/unwrap-sql-tde.json');
  const names = [...Array(30).fill('KeyGet'), ...Array(20).fill('KeyList'), ...Array(25).fill('KeyUnwrap'), ...Array(25).fill('KeyWrap'), ...Array(20).fill('KeyDecrypt')] as string[];
  return names.map((name, i) => {
    const e = structuredClone(base);
    e.operationName = name;
    e.time = new Date(T0 + i * 450).toISOString();
    e.correlationId = `7c1d${String(i).padStart(4, '0')}-9f8e-4d7c-8b5a-493827160514`;
    return JSON.stringify(e);
  });
}

/** GCP Data Access entries by one service account within a minute: the Decrypt fixture with other method names. */
function gcpSweep(): string[] {
  const base = fixture('ingest/gcp-kms/fixtures/decrypt-data-access.json');
  const methods = [...Array(25).fill('GetCryptoKey'), ...Array(25).fill('GetIamPolicy'), ...Array(20).fill('ListCryptoKeys'), ...Array(30).fill('Decrypt'), ...Array(20).fill('Encrypt')] as string[];
  return methods.map((method, i) => {
    const e = structuredClone(base);
    e.protoPayload.methodName = method;
    e.timestamp = e.receiveTimestamp = e.protoPayload.requestMetadata.requestAttributes.time = new Date(T0 + i * 450).toISOString();
    e.insertId = `burst-${i}`;
    return JSON.stringify(e);
  });
}

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an AWS user enumerates keys and policies, decrypts and grants: 155 calls of 7 kinds in one minute',
      now: NOW,
      range: RANGE,
      events: calls(T0, SWEEP, MALLORY),
      expect: { alerts: 1, key_id: '', principal: MALLORY.principal, severity: 'high', evidenceIncludes: { calls: 155, peak_minute_distinct_operations: 7, top_key_id: key(0), minutes: 1, source_ips: '203.0.113.66' } },
    },
    {
      name: 'an Azure application gets, lists, unwraps, wraps and decrypts 120 times in a minute, from real-shaped AuditEvent records',
      now: NOW,
      range: RANGE,
      records: { format: 'azure-key-vault', lines: azureSweep() },
      expect: { alerts: 1, principal: '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d', evidenceIncludes: { calls: 120, peak_minute_distinct_operations: 5, sources: 'azure-key-vault' } },
    },
    {
      name: 'a GCP service account reads keys and IAM policies and decrypts, from real-shaped Data Access entries, on an incremental run',
      now: NOW,
      records: { format: 'gcp-kms', lines: gcpSweep() },
      expect: { alerts: 1, principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', evidenceIncludes: { calls: 120, peak_minute_distinct_operations: 5 } },
    },
    {
      name: 'exactly at the thresholds: 100 calls of 4 kinds',
      now: NOW,
      range: RANGE,
      events: calls(T0, [['list', 'ListKeys', 25], ['describe', 'DescribeKey', 25], ['describe', 'GetKeyPolicy', 25], ['decrypt', 'Decrypt', 25]], MALLORY),
      expect: { alerts: 1, evidenceIncludes: { calls: 100, peak_minute_distinct_operations: 4 } },
    },
    {
      name: 'a sweep over three consecutive minutes is one alert',
      now: NOW,
      range: RANGE,
      events: [0, 1, 2].flatMap((m) => calls(T0 + m * 60_000, SWEEP, MALLORY)),
      expect: { alerts: 1, evidenceIncludes: { calls: 465, minutes: 3 } },
    },
    {
      name: 'a scanner seen sweeping on only one earlier day is not yet regular (regularDays 2)',
      now: NOW,
      range: RANGE,
      events: [...calls(T0 - DAY, SCAN, SCANNER), ...calls(T0, SCAN, SCANNER)],
      expect: { alerts: 1, principal: SCANNER.principal, evidenceIncludes: { earlier_burst_days: 1 } },
    },
  ],
  quiet: [
    {
      name: 'just under minOperations: 99 calls of 7 kinds',
      now: NOW,
      range: RANGE,
      events: calls(T0, [['list', 'ListKeys', 10], ['list', 'ListAliases', 10], ['describe', 'DescribeKey', 25], ['describe', 'GetKeyPolicy', 25], ['list', 'ListGrants', 10], ['decrypt', 'Decrypt', 15], ['create_grant', 'CreateGrant', 4]], MALLORY),
    },
    {
      name: 'a busy service: 400 calls in a minute of three kinds (Decrypt, GenerateDataKey, Encrypt)',
      now: NOW,
      range: RANGE,
      events: calls(T0, [['decrypt', 'Decrypt', 250], ['generate_data_key', 'GenerateDataKey', 100], ['encrypt', 'Encrypt', 50]]),
    },
    {
      name: 'a busy but regular principal: the compliance scanner sweeps every night, and did on the two nights before',
      now: NOW,
      range: RANGE,
      events: [...calls(T0 - 2 * DAY, SCAN, SCANNER), ...calls(T0 - DAY + 120_000, SCAN, SCANNER), ...calls(T0, SCAN, SCANNER)],
    },
    {
      name: 'the same sweep spread over three minutes (about 52 calls a minute)',
      now: NOW,
      range: RANGE,
      events: calls(T0, SWEEP, MALLORY, 175_000),
    },
    {
      name: 'an AWS service acting for the customer is left out as an internal caller',
      now: NOW,
      range: RANGE,
      events: calls(T0, SWEEP, { principal: 'dynamodb.amazonaws.com', principal_type: 'service' }),
    },
    {
      name: 'an HSM application opening and closing sessions around its decrypts: session plumbing is not counted',
      now: NOW,
      range: RANGE,
      events: calls(
        T0,
        [['other', 'LUNA_OPEN_SESSION', 40], ['login', 'LUNA_LOGIN', 40], ['decrypt', 'LUNA_DECRYPT', 60], ['encrypt', 'LUNA_ENCRYPT', 20], ['logout', 'LUNA_LOGOUT', 40], ['other', 'LUNA_CLOSE_SESSION', 40]],
        { source: 'luna-hsm', principal: 'CU', principal_type: 'hsm_user' },
      ).map((e) => ({ ...e, operation_class: e.vendor_operation.includes('SESSION') || e.operation === 'login' || e.operation === 'logout' ? 'auth' : 'crypto' })),
    },
    {
      name: 'HSM key-management entries that name no user (principal empty) are not one identity',
      now: NOW,
      range: RANGE,
      events: calls(T0, SWEEP, { source: 'aws-cloudhsm', principal: '', principal_type: 'unknown' }),
    },
  ],
};
