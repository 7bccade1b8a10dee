import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_CLASS_OF, type OperationName } from '../core/operations.ts';
import { openEmbeddedStore } from '../storage/chdb/embedded-store.ts';
import { migrate } from '../storage/migrate.ts';
import type { Store } from '../storage/store.ts';
import { coverageWindow, findCoverageGaps, refreshCoverageGaps } from './coverage-gaps.ts';

const NOW = new Date('2026-11-29T12:00:00.000Z');
let store: Store;
let dir: string;
let n = 0;

function ev(source: string, account: string, key: string, operation: OperationName, daysAgo: number) {
  n++;
  const t = new Date(NOW.getTime() - daysAgo * 86_400_000).toISOString().replace('T', ' ').replace('Z', '');
  return {
    event_id: `cov-${n}`, event_time: t, ingest_time: t, source, tenant: 'acme', account, region: 'r1', key_id: key, key_version: '',
    operation, operation_class: OPERATION_CLASS_OF[operation] ?? 'lifecycle', vendor_operation: operation, principal: 'p', principal_type: 'user',
    source_ip: '', user_agent: '', outcome: 'success', error_code: '', latency_ms: null, request_id: '', attributes: {}, raw_id: `b:${n}`,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-coverage-'));
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => NOW });
  await store.insertRows('key_events', [
    // Project p1: admin activity on two keys, no use at all: the whole project is dark.
    ev('gcp-kms', 'p1', 'k-admin-only', 'update_policy', 2),
    ev('gcp-kms', 'p1', 'k-rotated', 'rotate_key', 1),
    // Project p2: k-used is used, k-quiet only sees admin events: a gap for that key alone.
    ev('gcp-kms', 'p2', 'k-used', 'create_key', 3),
    ev('gcp-kms', 'p2', 'k-used', 'decrypt', 1),
    ev('gcp-kms', 'p2', 'k-quiet', 'enable_rotation', 2),
    // Disabled keys are expected to be quiet.
    ev('gcp-kms', 'p2', 'k-disabled', 'disable_key', 2),
    // Admin activity outside the window does not count.
    ev('gcp-kms', 'p2', 'k-old', 'update_policy', 30),
    // CloudHSM never logs key use.
    ev('aws-cloudhsm', 'cluster-1', 'hsm-1/7', 'create_key', 1),
    // A key created a few hours ago has not had time to be used.
    ev('gcp-kms', 'p2', 'k-new', 'create_key', 0.2),
    // Read-only calls are neither admin activity nor use.
    ev('azure-key-vault', 'sub-1', 'kv-read', 'describe', 1),
  ]);
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('coverage gaps', () => {
  it('reports keys with admin activity and no data-plane use in the window, naming whole dark accounts', async () => {
    const gaps = await findCoverageGaps(store, coverageWindow(NOW, 7));
    expect(gaps.map((g) => [g.account, g.key_id, g.reason, g.admin_events, g.data_events])).toEqual([
      ['p1', 'k-admin-only', 'no_data_plane_events_for_account', 1, 0],
      ['p1', 'k-rotated', 'no_data_plane_events_for_account', 1, 0],
      ['p2', 'k-quiet', 'no_data_plane_events_for_key', 1, 0],
    ]);
    expect(gaps[0]?.hint).toContain('Data Access audit logs');
    expect(gaps[2]?.last_admin_time).toBe('2026-11-27 12:00:00.000');
  });

  it('keeps only the latest evaluation in the coverage_gaps table', async () => {
    await refreshCoverageGaps(store, coverageWindow(NOW, 7), NOW);
    await store.insertRows('key_events', [ev('gcp-kms', 'p2', 'k-quiet', 'encrypt', 0.5)]);
    const later = new Date(NOW.getTime() + 60_000);
    const gaps = await refreshCoverageGaps(store, coverageWindow(later, 7), later);
    expect(gaps.map((g) => g.key_id)).toEqual(['k-admin-only', 'k-rotated']);
    const rows = await store.query<{ key_id: string; evaluated_time: string }>('SELECT key_id, toString(evaluated_time) AS evaluated_time FROM coverage_gaps ORDER BY key_id');
    expect(rows).toEqual([
      { key_id: 'k-admin-only', evaluated_time: '2026-11-29 12:01:00.000' },
      { key_id: 'k-rotated', evaluated_time: '2026-11-29 12:01:00.000' },
    ]);
  });
});
