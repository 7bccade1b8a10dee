import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { vaultDemo } from './vault.ts';

const START = new Date('2026-10-01T00:00:00Z');
const DAYS = 3;
const dir = tempDir('keywatch-vault-demo-');
let store: Store;
let summary: IngestSummary;
let files: string[];
let records: number;

const ms = (ch: string) => Date.parse(`${ch.replace(' ', 'T')}Z`);
const one = async <T>(sql: string): Promise<T> => (await store.query<T>(sql))[0] as T;

beforeAll(async () => {
  const out = join(dir.path, 'files');
  mkdirSync(out);
  ({ files, records } = await vaultDemo.write({ start: START, days: DAYS, seed: 7, dir: out, incidents: true }));
  store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
  await migrate(store);
  summary = await ingest(files.map((f) => openInput(f)), {
    store, clock: fixedClock('2026-10-05T00:00:00Z'), format: 'auto', tenants: vaultDemo.tenants, defaultTenant: 'default',
    batchBytes: 16 << 20, maxRecordBytes: 4 << 20,
  });
});
afterAll(async () => {
  await store?.close();
  dir.remove();
});

describe('vault demo traffic', () => {
  it('writes one vault-audit file per day, at a natural volume of 300-1500 entries a day', () => {
    expect(readdirSync(join(dir.path, 'files')).sort()).toEqual(['vault-audit-2026-10-01.log', 'vault-audit-2026-10-02.log', 'vault-audit-2026-10-03.log']);
    expect(records / DAYS).toBeGreaterThanOrEqual(300);
    expect(records / DAYS).toBeLessThanOrEqual(1500);
  });

  it('ingests with --format auto as vault, with nothing quarantined and every entry accounted for', () => {
    expect(summary.read).toBe(records);
    expect(summary.quarantined).toEqual({});
    expect(Object.keys(summary.bySource)).toEqual(['vault']);
    const dropped = Object.values(summary.dropped).reduce((a, n) => a + n, 0);
    expect(summary.inserted + summary.duplicates + dropped).toBe(summary.read);
    // Every call writes a request and a response entry: about half the entries become events.
    expect(summary.dropped.vault_request_paired).toBeGreaterThan(summary.inserted * 0.9);
  });

  it('maps every event to a demo tenant through its namespace, with latency from the paired request', async () => {
    const rows = await store.query<{ tenant: string; account: string }>('SELECT DISTINCT tenant, account FROM key_events ORDER BY tenant');
    expect(rows).toEqual([{ tenant: 'acme', account: 'root' }, { tenant: 'globex', account: 'globex' }, { tenant: 'initech', account: 'initech' }]);
    const lat = await one<{ missing: string; n: string }>("SELECT countIf(latency_ms IS NULL) AS missing, count() AS n FROM key_events");
    expect(Number(lat.missing)).toBeLessThan(Number(lat.n) * 0.01);
  });

  it('lists its incidents inside the generated window', () => {
    const incidents = vaultDemo.incidents({ start: START, days: DAYS, seed: 7 });
    // Three days are shorter than the 7-day cryptoperiod: the rotator's lost key is left out.
    expect(incidents.map((i) => i.id)).toEqual(['vault-denied-decrypt-burst', 'vault-transit-key-export', 'vault-audit-device-disabled', 'vault-policy-change-night', 'vault-pinned-old-version']);
    for (const i of incidents) {
      expect(Date.parse(i.at)).toBeGreaterThanOrEqual(START.getTime());
      expect(Date.parse(i.at)).toBeLessThan(START.getTime() + DAYS * 86_400_000);
    }
  });

  it('contains a burst of permission-denied decrypts by an entity never seen before', async () => {
    const burst = await one<{ n: string; first: string; last: string; entities: string }>(`
      SELECT count() AS n, toString(min(event_time)) AS first, toString(max(event_time)) AS last, uniqExact(attributes['entity_id']) AS entities
      FROM key_events WHERE principal = 'kubernetes-default-debug-shell' AND operation = 'decrypt' AND error_code = 'permission_denied'`);
    expect(Number(burst.n)).toBe(40);
    expect(Number(burst.entities)).toBe(1);
    expect(Date.parse(`${burst.last}Z`) - Date.parse(`${burst.first}Z`)).toBeLessThan(5 * 60_000);
    const before = await one<{ n: string }>(`
      SELECT count() AS n FROM key_events WHERE attributes['entity_id'] IN
        (SELECT attributes['entity_id'] FROM key_events WHERE principal = 'kubernetes-default-debug-shell')
      AND event_time < (SELECT min(event_time) FROM key_events WHERE principal = 'kubernetes-default-debug-shell')`);
    expect(Number(before.n)).toBe(0);
  });

  it('contains the export and backup of the acme payments key from an outside address', async () => {
    const rows = await store.query<{ operation: string; key_id: string; source_ip: string; principal: string }>(
      "SELECT operation, key_id, source_ip, principal FROM key_events WHERE operation IN ('export_key', 'backup_key') ORDER BY event_time");
    expect(rows).toEqual([
      { operation: 'export_key', key_id: 'transit/payments', source_ip: '203.0.113.45', principal: 'userpass-contractor-jdoe' },
      { operation: 'backup_key', key_id: 'transit/payments', source_ip: '203.0.113.45', principal: 'userpass-contractor-jdoe' },
    ]);
  });

  it('contains the audit device disabled with a root token, and re-enabled', async () => {
    const rows = await store.query<{ change: string; principal: string; root: string }>(
      "SELECT attributes['audit_device_change'] AS change, principal, attributes['root_token'] AS root FROM key_events WHERE attributes['audit_device'] = 'file' ORDER BY event_time");
    expect(rows).toEqual([{ change: 'disable', principal: 'root', root: 'true' }, { change: 'enable', principal: 'root', root: 'true' }]);
  });

  it('contains an ACL policy change in the initech namespace at night', async () => {
    const rows = await store.query<{ tenant: string; policy: string; hour: number }>(
      "SELECT tenant, attributes['policy_name'] AS policy, toHour(event_time) AS hour FROM key_events WHERE operation = 'update_policy'");
    expect(rows).toEqual([{ tenant: 'initech', policy: 'tps-reports-transit', hour: 2 }]);
    // The policy is the one that grants tps-reports its transit keys.
    const granting = await one<{ n: string }>("SELECT count() AS n FROM key_events WHERE tenant = 'initech' AND attributes['granting_policies'] = 'tps-reports-transit'");
    expect(Number(granting.n)).toBeGreaterThan(0);
  });

  it('rotates one key of every namespace each night at 03:xx, never a signing key', async () => {
    const rows = await store.query<{ day: string; tenant: string; n: string; keys: string[] }>(
      "SELECT toString(toDate(event_time)) AS day, tenant, count() AS n, groupUniqArray(key_id) AS keys FROM key_events WHERE operation = 'rotate_key' GROUP BY day, tenant ORDER BY day, tenant");
    expect(rows).toHaveLength(DAYS * 3);
    for (const r of rows) expect(Number(r.n)).toBe(1);
    expect(rows.flatMap((r) => r.keys).some((k) => k.includes('code-signing'))).toBe(false);
  });

  it('contains encrypts pinned to the previous version of globex billing, hours after its rotation', async () => {
    const pinned = await one<{ n: string; version: string; first: string }>(`
      SELECT count() AS n, any(key_version) AS version, toString(min(event_time)) AS first
      FROM key_events WHERE source_ip = '10.60.1.21' AND key_id = 'globex/transit/billing' AND operation = 'encrypt' AND toHour(event_time) = 14 AND toDate(event_time) = toDate('2026-10-02')`);
    const rotated = await one<{ latest: string; at: string }>(`
      SELECT toString(argMax(key_version, event_time)) AS latest, toString(max(event_time)) AS at
      FROM key_events WHERE key_id = 'globex/transit/billing' AND operation = 'rotate_key' AND event_time < '${pinned.first}'`);
    expect(Number(pinned.n)).toBeGreaterThanOrEqual(25);
    expect(ms(pinned.first) - ms(rotated.at)).toBeGreaterThan(3 * 3_600_000);
    expect(Number(pinned.version)).toBe(Number(rotated.latest) - 1);
  });

  it('writes about `records` entries when asked, without incidents', async () => {
    const out = join(dir.path, 'bench');
    mkdirSync(out);
    const w = await vaultDemo.write({ start: START, days: 5, seed: 42, dir: out, incidents: false, records: 12_000 });
    expect(w.records).toBe(12_000);
    expect(w.files).toHaveLength(5);
  });
});
