import { readFileSync } from 'node:fs';
import type { KeyEvent } from '../core/key-event.ts';
import { event, type DetectorCases } from './cases.ts';

const HOUR = 3_600_000;
const WEEK = 168 * HOUR;
// The hour under test: Monday 30 March 2026, 10:00 UTC; the baseline is the Mondays before it.
const SPIKE = Date.parse('2026-03-30T10:00:00Z');
const NOW = '2026-03-30T12:00:00Z';
const RANGE = { from: '2026-03-30T10:00:00Z', to: '2026-03-30T11:00:00Z' };

const ch = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/** `n` events spread evenly over the hour starting at `hourMs`. */
function hour(hourMs: number, n: number, e: Partial<KeyEvent> = {}): KeyEvent[] {
  const step = Math.floor(HOUR / Math.max(n, 1));
  return Array.from({ length: n }, (_, i) => event({ ...e, event_time: ch(hourMs + i * step + 7) }));
}

/** The same hour `counts.length` weeks back, most recent week first. */
const weeks = (counts: number[], e: Partial<KeyEvent> = {}, at = SPIKE) => counts.flatMap((n, i) => hour(at - (i + 1) * WEEK, n, e));

// One old event of somebody else, so the store holds more than the detector's 14 days of history.
const history = () => [event({ event_time: ch(SPIKE - 5 * WEEK), principal: 'arn:aws:iam::111122223333:role/someone-else' })];

const fixture = (path: string) => JSON.parse(readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')) as Record<string, any>;

/** GCP Data Access entries: the fixture's Decrypt by orders-api, re-timed and given fresh insertIds. */
function gcpDecrypts(hourMs: number, n: number): string[] {
  const base = fixture('ingest/gcp-kms/fixtures/decrypt-data-access.json');
  return Array.from({ length: n }, (_, i) => {
    const t = new Date(hourMs + Math.floor((i * HOUR) / n) + 412).toISOString();
    const e = structuredClone(base);
    e.timestamp = t;
    e.receiveTimestamp = t;
    e.protoPayload.requestMetadata.requestAttributes.time = t;
    e.insertId = `volume-${i}`;
    return JSON.stringify(e);
  });
}
const GCP = { source: 'gcp-kms', account: 'acme-kms-prod', region: 'europe-west3', key_id: 'projects/acme-kms-prod/locations/europe-west3/keyRings/byok/cryptoKeys/orders-cmek', principal: 'orders-api@acme-kms-prod.iam.gserviceaccount.com', principal_type: 'service_account' as const, vendor_operation: 'Decrypt' };

/** Azure Key Vault AuditEvent records: the fixture's SQL TDE KeyUnwrap, re-timed with fresh correlation ids. */
function azureUnwraps(hourMs: number, n: number): string[] {
  const base = fixture('ingest/azure-key-vault/fixtures/unwrap-sql-tde.json');
  return Array.from({ length: n }, (_, i) => {
    const e = structuredClone(base);
    e.time = new Date(hourMs + Math.floor((i * HOUR) / n) + 118).toISOString();
    e.correlationId = `0b5e${String(i).padStart(4, '0')}-9f8e-4d7c-8b5a-493827160514`;
    return JSON.stringify(e);
  });
}
const AZURE = { source: 'azure-key-vault', account: '0b1c2d3e-4f50-4172-8394-a5b6c7d8e9f0', region: '', key_id: 'https://acme-byok-kv.vault.azure.net/keys/sql-tde', principal: '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d', principal_type: 'application' as const, operation: 'unwrap' as const, vendor_operation: 'KeyUnwrap' };

export const cases: DetectorCases = {
  fires: [
    {
      name: 'an AWS role decrypts 400 times in an hour where the four Mondays before saw about 100',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([95, 100, 105, 110]), ...hour(SPIKE, 400)],
      expect: { alerts: 1, principal: 'arn:aws:iam::111122223333:role/app', severity: 'medium', evidenceIncludes: { count: 400, median: 102.5, mad: 5, baseline_hours: 4, baseline_hours_with_data: 4, neighbouring_hours: false } },
    },
    {
      name: 'a GCP service account, its spike in real-shaped Data Access entries, on an incremental run',
      now: NOW,
      events: [...history(), ...weeks([58, 60, 62, 61], GCP)],
      records: { format: 'gcp-kms', lines: gcpDecrypts(SPIKE, 300) },
      expect: { alerts: 1, key_id: GCP.key_id, principal: GCP.principal, evidenceIncludes: { count: 300, median: 60.5, sources: 'gcp-kms' } },
    },
    {
      name: 'an Azure application unwrapping the SQL TDE key, from real-shaped AuditEvent records',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([40, 45, 50, 42], AZURE)],
      records: { format: 'azure-key-vault', lines: azureUnwraps(SPIKE, 200) },
      expect: { alerts: 1, key_id: AZURE.key_id, principal: AZURE.principal, evidenceIncludes: { count: 200, operations: 'unwrap' } },
    },
    {
      name: 'a nightly job that runs at 01:00, 02:00 or 03:00 is compared with its runs in the neighbouring hours: 500 calls is high',
      now: '2026-03-30T04:00:00Z',
      range: { from: '2026-03-30T02:00:00Z', to: '2026-03-30T03:00:00Z' },
      events: [
        ...history(),
        ...hour(Date.parse('2026-03-23T02:00:00Z'), 80),
        ...hour(Date.parse('2026-03-16T03:00:00Z'), 85),
        ...hour(Date.parse('2026-03-09T02:00:00Z'), 90),
        ...hour(Date.parse('2026-03-02T01:00:00Z'), 75),
        ...hour(Date.parse('2026-03-30T02:00:00Z'), 500),
      ],
      expect: { alerts: 1, severity: 'high', evidenceIncludes: { count: 500, neighbouring_hours: true, baseline_hours: 4, median: 82.5 } },
    },
    {
      name: 'just over the score: 200 calls against about 100 is a robust score of 6.5',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([95, 100, 105, 110]), ...hour(SPIKE, 200)],
      expect: { alerts: 1, evidenceIncludes: { count: 200, robust_score: 6.5 } },
    },
    {
      name: 'a quiet key that jumps from 2 calls an hour to 55 fires once the count reaches minCount',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([2, 3, 1, 2]), ...hour(SPIKE, 55)],
      expect: { alerts: 1, evidenceIncludes: { count: 55, median: 2 } },
    },
    {
      name: 'three comparable hours with traffic are enough baseline',
      now: NOW,
      range: RANGE,
      events: [...history(), ...hour(SPIKE - WEEK, 100), ...hour(SPIKE - 2 * WEEK + HOUR, 90), ...hour(SPIKE - 3 * WEEK - HOUR, 95), ...hour(SPIKE, 600)],
      expect: { alerts: 1, evidenceIncludes: { baseline_hours_with_data: 3, neighbouring_hours: true } },
    },
  ],
  quiet: [
    {
      name: 'a busy but regular principal: 290 calls against Mondays of 240 to 260',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([240, 250, 260, 255]), ...hour(SPIKE, 290)],
    },
    {
      name: 'just under the score: 190 calls against about 100 is a robust score of 5.8',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([95, 100, 105, 110]), ...hour(SPIKE, 190)],
    },
    {
      name: 'a quiet key jumps from 2 calls an hour to 45: a huge score, but under minCount',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([2, 3, 1, 2]), ...hour(SPIKE, 45)],
    },
    {
      name: 'a spike of 600 by a principal with traffic in only two comparable hours does not page (minimum baseline)',
      now: NOW,
      range: RANGE,
      events: [...history(), ...hour(SPIKE - WEEK, 100), ...hour(SPIKE - 2 * WEEK + HOUR, 90), ...hour(SPIKE, 600)],
    },
    {
      name: 'a principal first seen this week has no baseline, however large its first hour',
      now: NOW,
      events: [...history(), ...hour(SPIKE - 2 * HOUR, 60), ...hour(SPIKE, 900)],
    },
    {
      name: 'an AWS service acting for the customer (S3 with SSE-KMS) is left out as an internal caller',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([95, 100, 105, 110], { principal: 's3.amazonaws.com', principal_type: 'service' }), ...hour(SPIKE, 900, { principal: 's3.amazonaws.com', principal_type: 'service' })],
    },
    {
      name: 'a burst of DescribeKey and ListKeys is not crypto volume',
      now: NOW,
      range: RANGE,
      events: [...history(), ...weeks([95, 100, 105, 110]), ...hour(SPIKE, 600, { operation: 'describe', operation_class: 'read', vendor_operation: 'DescribeKey' })],
    },
  ],
};
