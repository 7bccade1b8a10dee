import { readFileSync } from 'node:fs';
import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

const T0 = Date.parse('2026-03-02T08:20:00Z');
const NOW = '2026-03-02T12:00:00Z';
const RANGE = { from: '2026-03-02T08:00:00Z', to: '2026-03-02T09:00:00Z' };
const SECOND = 1000;
const MINUTE = 60 * SECOND;

const ch = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const iso = (ms: number) => new Date(ms).toISOString();
const p2 = (n: number) => String(n).padStart(2, '0');

/** `n` events `every` ms apart from `startMs`. */
function times(startMs: number, n: number, every: number, e: Partial<KeyEvent> = {}): KeyEvent[] {
  return Array.from({ length: n }, (_, i) => event({ ...e, event_time: ch(startMs + i * every) }));
}
const denied = (e: Partial<KeyEvent> = {}): Partial<KeyEvent> => ({ outcome: 'failure', error_code: 'AccessDeniedException', ...e });

type Json = Record<string, any>;
const fixture = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const fixtureJson = (path: string) => JSON.parse(fixture(path)) as Json;
const uuid = (prefix: string, i: number) => `${prefix}-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** CloudTrail records: the fixture's AccessDeniedException Decrypt by ci-deployer, every 10 s. */
function awsDenied(n: number): string[] {
  const base = fixtureJson('ingest/aws-kms/fixtures/decrypt-access-denied.json');
  return Array.from({ length: n }, (_, i) => JSON.stringify({ ...base, eventTime: iso(T0 + i * 10 * SECOND).replace('.000Z', 'Z'), eventID: uuid('9e4c2a70', i), requestID: uuid('c41a7e93', i) }));
}

/** GCP Data Access entries: the fixture's PERMISSION_DENIED Encrypt by mallory@example.net, every 15 s. */
function gcpDenied(n: number): string[] {
  const base = fixtureJson('ingest/gcp-kms/fixtures/encrypt-permission-denied.json');
  return Array.from({ length: n }, (_, i) => {
    const e = structuredClone(base);
    e.timestamp = e.receiveTimestamp = e.protoPayload.requestMetadata.requestAttributes.time = iso(T0 + i * 15 * SECOND);
    e.insertId = `denied-${i}`;
    return JSON.stringify(e);
  });
}

/** Key Vault AuditEvent records: the fixture's 403 KeyUnwrap, every 6 s; `description` replaces its resultDescription. */
function azureForbidden(n: number, description?: string): string[] {
  const base = fixtureJson('ingest/azure-key-vault/fixtures/unwrap-forbidden.json');
  return Array.from({ length: n }, (_, i) => {
    const e = structuredClone(base);
    e.time = iso(T0 + i * 6 * SECOND);
    e.correlationId = uuid('a1b2c3d4', i);
    if (description !== undefined) e.resultDescription = description;
    return JSON.stringify(e);
  });
}

/** Vault audit request/response pairs: the fixture's denied transit encrypt, every 5 s. */
function vaultDenied(n: number): string[] {
  const [request, response] = fixture('ingest/vault/fixtures/encrypt-denied.jsonl').trim().split('\n').map((l) => JSON.parse(l) as Json);
  return Array.from({ length: n }, (_, i) =>
    [request, response].map((entry) => {
      const e = structuredClone(entry) as Json;
      e.time = iso(T0 + i * 5 * SECOND + (e.type === 'response' ? 1 : 0));
      e.request.id = uuid('2d0360f9', i);
      return JSON.stringify(e);
    }),
  ).flat();
}

/** Luna Network HSM audit records by syslog (RFC 5424): crypto-officer logins with a wrong PIN, every `every` seconds (7). */
function lunaPinIncorrect(n: number, every = 7): string[] {
  return Array.from({ length: n }, (_, i) => {
    const d = new Date(T0 + i * every * SECOND);
    const body = `${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
    return `<133>1 ${d.toISOString()} luna-nyc-01 luna-audit - audit [origin ip="10.40.0.11"] ${1900 + i},${body},S/N 1520001 session ${20 + i} Access 2147483651:8813 CO(0) operation LUNA_LOGIN returned RC_PIN_INCORRECT(0x000000a0)`;
  });
}

/** One CloudWatch Logs subscription message of CloudHSM audit entries: failed CN_LOGIN as crypto officer `admin`, every 9 s. */
function cloudHsmLoginFailures(n: number): string[] {
  const logEvents = Array.from({ length: n }, (_, i) => {
    const ms = T0 + i * 9 * SECOND;
    const d = new Date(ms);
    const us = BigInt(ms) * 1000n + 218n;
    return {
      id: `3793${String(i).padStart(52, '0')}`,
      timestamp: ms,
      message: [
        `Time: ${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.000218, usecs:${us}`,
        `Sequence No : 0x${(0x300 + i).toString(16)}`,
        'Reboot counter : 0x107',
        'Command Type(hex) : CN_MGMT_CMD (0x0)',
        'Opcode : CN_LOGIN (0xd)',
        'Session Handle : 0xc008002',
        'Response : 163:HSM Error: RET_USER_LOGIN_FAILURE',
        'Log type : MGMT_USER_DETAILS_LOG (2)',
        'User Name : admin',
        'User Type : CN_CRYPTO_OFFICER (2)',
      ].join('\n'),
    };
  });
  return [JSON.stringify({ messageType: 'DATA_MESSAGE', owner: '111122223333', logGroup: '/aws/cloudhsm/cluster-a1b2c3d4e5f', logStream: 'hsm-q7x2k4m9p3w', subscriptionFilters: ['keywatch-to-firehose'], logEvents })];
}

const AWS_KEY = 'arn:aws:kms:eu-central-1:111122223333:key/5f0c8a1e-3b7d-4e2a-9c61-0d4f7e2b8a13';
const GCP_KEY = 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek';
const AZURE_KEY = 'https://acme-byok-kv.vault.azure.net/keys/sql-tde';
const ROLE = 'arn:aws:iam::111122223333:role/app';

export const cases: DetectorCases = {
  fires: [
    {
      name: 'AWS: 30 AccessDeniedException Decrypts in 5 minutes by one user, from real-shaped CloudTrail records: high',
      now: NOW,
      range: RANGE,
      records: { format: 'aws-kms', lines: awsDenied(30) },
      expect: { alerts: 1, key_id: AWS_KEY, principal: 'arn:aws:iam::111122223333:user/ci-deployer', severity: 'high', evidenceIncludes: { category: 'access_denied', failures: 30, failure_ratio: 1, top_error_codes: 'AccessDeniedException:30', rule: 'ratio' } },
    },
    {
      name: 'GCP: 25 PERMISSION_DENIED Encrypts by an outside user, from real-shaped Data Access entries, on an incremental run',
      now: NOW,
      records: { format: 'gcp-kms', lines: gcpDenied(25) },
      expect: { alerts: 1, key_id: GCP_KEY, principal: 'mallory@example.net', severity: 'high', evidenceIncludes: { category: 'access_denied', top_error_codes: 'PERMISSION_DENIED:25', operations: 'encrypt' } },
    },
    {
      name: 'Azure Key Vault: 40 KeyUnwrap calls refused 403 Forbidden, from real-shaped AuditEvent records',
      now: NOW,
      range: RANGE,
      records: { format: 'azure-key-vault', lines: azureForbidden(40) },
      expect: { alerts: 1, key_id: AZURE_KEY, severity: 'high', evidenceIncludes: { category: 'access_denied', top_error_codes: 'Forbidden:40', source_ips: '203.0.113.50' } },
    },
    {
      name: 'Azure Key Vault: 403 on a disabled key is invalid_state, medium',
      now: NOW,
      range: RANGE,
      records: { format: 'azure-key-vault', lines: azureForbidden(25, 'Operation unwrapKey is not allowed on a disabled key.') },
      expect: { alerts: 1, key_id: AZURE_KEY, severity: 'medium', evidenceIncludes: { category: 'invalid_state', top_error_codes: 'Forbidden:25' } },
    },
    {
      name: 'Vault: 24 transit encrypts denied to a Kubernetes service account, from real-shaped audit request/response pairs',
      now: NOW,
      range: RANGE,
      records: { format: 'vault', lines: vaultDenied(24) },
      expect: { alerts: 1, key_id: 'transit/orders', principal: 'kubernetes-payments-batch-worker', severity: 'high', evidenceIncludes: { category: 'access_denied', top_error_codes: 'permission_denied:24' } },
    },
    {
      name: 'Luna HSM: 22 crypto-officer logins with a wrong PIN (RC_PIN_INCORRECT) in under 3 minutes, from syslog records',
      now: NOW,
      range: RANGE,
      records: { format: 'luna-hsm', lines: lunaPinIncorrect(22) },
      expect: { alerts: 1, key_id: '', principal: 'CO', severity: 'high', evidenceIncludes: { category: 'access_denied', top_error_codes: 'RC_PIN_INCORRECT:22', operations: 'login' } },
    },
    {
      name: 'Luna HSM: 6 wrong crypto-officer PINs in under a minute reach minLoginFailures (an HSM locks the role out long before 20)',
      now: NOW,
      range: RANGE,
      records: { format: 'luna-hsm', lines: lunaPinIncorrect(6) },
      expect: { alerts: 1, key_id: '', principal: 'CO', severity: 'high', evidenceIncludes: { category: 'access_denied', failures: 6, top_error_codes: 'RC_PIN_INCORRECT:6' } },
    },
    {
      name: 'CloudHSM: 5 failed CN_LOGIN as crypto officer admin, the lockout threshold, from a CloudWatch Logs subscription message',
      now: NOW,
      range: RANGE,
      records: { format: 'aws-cloudhsm', lines: cloudHsmLoginFailures(5) },
      expect: { alerts: 1, principal: 'admin', severity: 'high', evidenceIncludes: { category: 'access_denied', failures: 5 } },
    },
    {
      name: 'CloudHSM: 24 failed CN_LOGIN as crypto officer admin in under 4 minutes, from a CloudWatch Logs subscription message',
      now: NOW,
      range: RANGE,
      records: { format: 'aws-cloudhsm', lines: cloudHsmLoginFailures(24) },
      expect: { alerts: 1, principal: 'admin', severity: 'high', evidenceIncludes: { category: 'access_denied', top_error_codes: 'RET_USER_LOGIN_FAILURE:24' } },
    },
    {
      name: 'AWS: a disabled key breaks a service: KMSInvalidStateException and DisabledException among a few successes are invalid_state, medium',
      now: NOW,
      range: RANGE,
      events: [
        ...times(T0, 5, 10 * SECOND),
        ...times(T0 + 60 * SECOND, 20, 12 * SECOND, { outcome: 'failure', error_code: 'KMSInvalidStateException' }),
        ...times(T0 + 65 * SECOND, 12, 20 * SECOND, { outcome: 'failure', error_code: 'DisabledException', operation: 'generate_data_key', vendor_operation: 'GenerateDataKey' }),
      ],
      expect: { alerts: 1, principal: ROLE, severity: 'medium', evidenceIncludes: { category: 'invalid_state', failures: 32, top_error_codes: 'KMSInvalidStateException:20,DisabledException:12', operations: 'decrypt,generate_data_key' } },
    },
    {
      name: 'GCP: FAILED_PRECONDITION on a disabled key version is invalid_state',
      now: NOW,
      range: RANGE,
      events: times(T0, 30, 10 * SECOND, { source: 'gcp-kms', key_id: GCP_KEY, vendor_operation: 'Decrypt', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account', outcome: 'failure', error_code: 'FAILED_PRECONDITION' }),
      expect: { alerts: 1, key_id: GCP_KEY, severity: 'medium', evidenceIncludes: { category: 'invalid_state' } },
    },
    {
      name: 'a busy role whose calls are rarely refused: 25 refusals among 70 calls (36%) is far above its own 0% last week (baseline rule)',
      now: NOW,
      range: RANGE,
      events: [
        ...times(T0 - 3 * 86_400_000, 300, 10 * MINUTE),
        ...times(T0, 45, 13 * SECOND),
        ...times(T0 + 5 * SECOND, 25, 23 * SECOND, denied()),
      ],
      expect: { alerts: 1, principal: ROLE, severity: 'high', evidenceIncludes: { category: 'access_denied', rule: 'baseline', baseline_ratio: 0, peak_window_calls: 70, peak_window_failures: 25 } },
    },
    {
      name: 'two spikes an hour apart are two alerts',
      now: NOW,
      range: { from: '2026-03-02T08:00:00Z', to: '2026-03-02T10:00:00Z' },
      events: [...times(T0, 21, 10 * SECOND, denied()), ...times(T0 + 70 * MINUTE, 21, 10 * SECOND, denied())],
      expect: { alerts: 2 },
    },
    {
      name: 'a spike split by the start of the examined range is seen whole: 25 refusals, 12 of them in range',
      now: NOW,
      range: { from: '2026-03-02T08:22:00Z', to: '2026-03-02T09:00:00Z' },
      events: times(T0, 25, 10 * SECOND, denied()),
      expect: { alerts: 1, evidenceIncludes: { failures: 25, peak_window_failures: 25 } },
    },
  ],
  quiet: [
    {
      name: 'just under minFailures: 19 refusals in 5 minutes',
      now: NOW,
      range: RANGE,
      events: times(T0, 19, 15 * SECOND, denied()),
    },
    {
      name: 'Luna HSM: 4 wrong PINs stay under minLoginFailures',
      now: NOW,
      range: RANGE,
      records: { format: 'luna-hsm', lines: lunaPinIncorrect(4) },
    },
    {
      name: 'Luna HSM: 6 wrong PINs 11 minutes apart (a user who mistypes now and then) never reach 5 in a 10-minute window',
      now: NOW,
      range: RANGE,
      records: { format: 'luna-hsm', lines: lunaPinIncorrect(6, 11 * 60) },
    },
    {
      name: 'Vault: 8 failed userpass logins in 5 minutes are not HSM logins: minFailures (20) applies',
      now: NOW,
      range: RANGE,
      events: times(T0, 8, 40 * SECOND, { source: 'vault', key_id: '', operation: 'login', vendor_operation: 'update auth/userpass/login', principal: 'userpass-mallory', principal_type: 'user', outcome: 'failure', error_code: 'invalid_credentials' }),
    },
    {
      name: 'just under minRatio, and no baseline: 25 refusals among 60 calls (42%) by a principal without history',
      now: NOW,
      range: RANGE,
      events: [...times(T0, 35, 17 * SECOND), ...times(T0 + 3 * SECOND, 25, 23 * SECOND, denied())],
    },
    {
      name: 'a principal that is often refused: 25 refusals among 70 calls (36%) against its usual 30%',
      now: NOW,
      range: RANGE,
      events: [
        ...times(T0 - 3 * 86_400_000, 210, 20 * MINUTE),
        ...times(T0 - 3 * 86_400_000 + 7 * MINUTE, 90, 45 * MINUTE, denied()),
        ...times(T0, 45, 13 * SECOND),
        ...times(T0 + 5 * SECOND, 25, 23 * SECOND, denied()),
      ],
    },
    {
      name: '30 refusals spread over 45 minutes never reach 20 in a 10-minute window',
      now: NOW,
      range: RANGE,
      events: times(T0 - 15 * MINUTE, 30, 90 * SECOND, denied()),
    },
    {
      name: 'failures that are neither refusals nor invalid states (InvalidCiphertextException, ThrottlingException)',
      now: NOW,
      range: RANGE,
      events: [...times(T0, 30, 5 * SECOND, { outcome: 'failure', error_code: 'InvalidCiphertextException' }), ...times(T0, 30, 5 * SECOND, { outcome: 'failure', error_code: 'ThrottlingException' })],
    },
    {
      name: '12 refusals and 12 invalid-state errors: neither category reaches minFailures on its own',
      now: NOW,
      range: RANGE,
      events: [...times(T0, 12, 10 * SECOND, denied()), ...times(T0, 12, 10 * SECOND, { outcome: 'failure', error_code: 'DisabledException' })],
    },
    {
      name: 'refusals of an AWS service acting for the customer are left out as an internal caller',
      now: NOW,
      range: RANGE,
      events: times(T0, 40, 5 * SECOND, denied({ principal: 'rds.amazonaws.com', principal_type: 'service' })),
    },
  ],
};
