import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { findCoverageGaps } from '../../ingest/coverage-gaps.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { azureKeyVaultDemo } from './azure-key-vault.ts';

const START = new Date('2026-03-01T00:00:00Z');
const DAYS = 4;
const SEED = 7;
const END = new Date(START.getTime() + DAYS * 86_400_000);

let tmp: { path: string; remove(): void };
let store: Store;
let written: { files: string[]; records: number };
let summary: IngestSummary;

beforeAll(async () => {
  tmp = tempDir('keywatch-azure-demo-');
  const dir = join(tmp.path, 'demo');
  mkdirSync(dir);
  written = await azureKeyVaultDemo.write({ start: START, days: DAYS, seed: SEED, dir, incidents: true });
  store = await openEmbeddedStore({ dataDir: join(tmp.path, 'store') });
  await migrate(store, { now: () => END });
  summary = await ingest(
    listInputs([dir]).map((f) => openInput(f)),
    { store, clock: fixedClock(END.toISOString()), format: 'auto', tenants: azureKeyVaultDemo.tenants, defaultTenant: 'default', batchBytes: 4 << 20, maxRecordBytes: 1 << 20 },
  );
});

afterAll(async () => {
  await store?.close();
  tmp?.remove();
});

const q = <T>(sql: string, params: Record<string, unknown> = {}) => store.query<T>(sql, params);
const hash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('azure-key-vault demo source', () => {
  it('writes a natural volume of traffic into files named after the source, in every export layout', () => {
    const perDay = written.records / DAYS;
    expect(perDay).toBeGreaterThan(300);
    expect(perDay).toBeLessThan(1500);
    const names = written.files.map((f) => basename(f));
    expect(names.every((n) => n.startsWith('azure-key-vault'))).toBe(true);
    for (const layout of ['_PT1H.json', '_records.json.gz', '_AZKVAuditLogs.json', '_AzureDiagnostics.ndjson']) {
      expect(names.some((n) => n.endsWith(layout)), layout).toBe(true);
    }
  });

  it('ingests with --format auto: nothing quarantined, only secret reads dropped, the second export of a day all duplicates', async () => {
    expect(summary.quarantined).toEqual({});
    expect(Object.keys(summary.dropped)).toEqual(['non_key_operation']);
    expect(Object.keys(summary.bySource)).toEqual(['azure-key-vault']);
    expect(summary.read).toBe(written.records);
    const azkvFiles = written.files.filter((f) => f.endsWith('_AZKVAuditLogs.json'));
    const azkvRows = azkvFiles.reduce((n, f) => n + (JSON.parse(readFileSync(f, 'utf8')) as unknown[]).length, 0);
    const azkvSecrets = azkvFiles.reduce(
      (n, f) => n + (JSON.parse(readFileSync(f, 'utf8')) as { OperationName: string }[]).filter((r) => r.OperationName.startsWith('Secret')).length,
      0,
    );
    expect(azkvRows).toBeGreaterThan(0);
    expect(summary.duplicates).toBe(azkvRows - azkvSecrets);
    const tenants = await q<{ tenant: string }>('SELECT DISTINCT tenant FROM key_events ORDER BY tenant');
    expect(tenants.map((t) => t.tenant)).toEqual(['acme', 'globex', 'initech']);
  });

  it('lists its incidents inside the demo window', () => {
    const incidents = azureKeyVaultDemo.incidents({ start: START, days: DAYS, seed: SEED });
    expect(incidents.map((i) => i.id)).toEqual(['az-key-purged', 'az-unwrap-forbidden-burst', 'az-backup-unusual-user', 'az-access-policy-grant', 'az-management-only']);
    for (const i of incidents) {
      expect(Date.parse(i.at)).toBeGreaterThanOrEqual(START.getTime());
      expect(Date.parse(i.at)).toBeLessThan(END.getTime());
    }
  });

  it('contains each incident as the detectors will see it', async () => {
    const at = Object.fromEntries(azureKeyVaultDemo.incidents({ start: START, days: DAYS, seed: SEED }).map((i) => [i.id, i.at.replace('T', ' ').replace('Z', '')]));

    const purge = await q<{ operation: string; principal: string; source_ip: string }>(
      `SELECT operation, principal, source_ip FROM key_events WHERE key_id = 'https://globex-pay-kv.vault.azure.net/keys/ledger-cmk'
       AND operation IN ('schedule_deletion', 'destroy_version') ORDER BY event_time`,
    );
    expect(purge).toEqual([
      { operation: 'schedule_deletion', principal: 'secops@globex.example.com', source_ip: '198.51.100.61' },
      { operation: 'destroy_version', principal: 'secops@globex.example.com', source_ip: '198.51.100.61' },
    ]);

    const [burst] = await q<{ n: string; first: string; last: string }>(
      `SELECT count() AS n, toString(min(event_time)) AS first, toString(max(event_time)) AS last FROM key_events
       WHERE operation = 'unwrap' AND outcome = 'failure' AND error_code = 'Forbidden' AND source_ip = '203.0.113.50'`,
    );
    expect(Number(burst?.n)).toBe(60);
    expect(burst?.first.slice(0, 16)).toBe(String(at['az-unwrap-forbidden-burst']).slice(0, 16));
    expect(Date.parse(`${burst?.last}Z`) - Date.parse(`${burst?.first}Z`)).toBeLessThan(7 * 60_000);

    const backups = await q<{ principal: string; key_id: string }>(`SELECT principal, key_id FROM key_events WHERE operation = 'backup_key'`);
    expect(backups).toEqual([{ principal: 'contractor@acme.example.com', key_id: 'https://acme-prod-kv.vault.azure.net/keys/storage-cmk' }]);
    const [seenBefore] = await q<{ n: string }>(`SELECT count() AS n FROM key_events WHERE principal = 'contractor@acme.example.com' AND operation != 'backup_key'`);
    expect(Number(seenBefore?.n)).toBe(0);

    const grants = await q<{ vendor_operation: string; policy: string }>(
      `SELECT vendor_operation, attributes['added_access_policy'] AS policy FROM key_events WHERE operation = 'update_policy' AND account = '6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f'`,
    );
    expect(grants).toHaveLength(1);
    expect(grants[0]?.vendor_operation).toBe('VaultPatch');
    expect(JSON.parse(String(grants[0]?.policy))).toMatchObject({ ObjectId: '9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d', Permissions: { keys: ['get', 'unwrapKey', 'wrapKey'] } });

    const gaps = await findCoverageGaps(store, { from: START, to: END });
    const azureGaps = gaps.filter((g) => g.source === 'azure-key-vault');
    expect(azureGaps.map((g) => [g.tenant, g.account, g.key_id, g.reason])).toEqual([
      ['initech', '8e9f0a1b-2c3d-4e4f-8a5b-6c7d8e9f0a1c', 'https://initech-hr-kv.vault.azure.net/keys/hr-records', 'no_data_plane_events_for_account'],
    ]);
  });

  it('rotates a key on its policy: KeyRotateIfDue by the service, then use of the new version', async () => {
    const rows = await q<{ key_id: string; key_version: string; t: string }>(
      `SELECT key_id, key_version, toString(event_time) AS t FROM key_events WHERE vendor_operation = 'KeyRotateIfDue' AND principal = 'Azure Key Vault' ORDER BY key_id`,
    );
    expect(rows.map((r) => r.key_id)).toEqual(['https://acme-prod-kv.vault.azure.net/keys/storage-cmk', 'https://globex-pay-kv.vault.azure.net/keys/ledger-cmk', 'https://initech-tps-kv.vault.azure.net/keys/reports-cmk']);
    for (const r of rows) {
      const [after] = await q<{ n: string }>(
        `SELECT count() AS n FROM key_events WHERE key_id = {k:String} AND operation_class = 'crypto' AND event_time > {t:DateTime64(3)} AND key_version != {v:String}`,
        { k: r.key_id, t: r.t, v: r.key_version },
      );
      expect(Number(after?.n), `${r.key_id} used with an old version after rotation`).toBe(0);
    }
  });

  it('writes the same bytes for the same seed, and no incidents when asked for none', async () => {
    const again = tempDir('keywatch-azure-demo-again-');
    try {
      const a = join(again.path, 'a');
      const b = join(again.path, 'b');
      mkdirSync(a);
      mkdirSync(b);
      const first = await azureKeyVaultDemo.write({ start: START, days: 2, seed: SEED, dir: a, incidents: false });
      const second = await azureKeyVaultDemo.write({ start: START, days: 2, seed: SEED, dir: b, incidents: false });
      expect(second.records).toBe(first.records);
      expect(second.files.map(hash)).toEqual(first.files.map(hash));
      const text = first.files.filter((f) => !f.endsWith('.gz')).map((f) => readFileSync(f, 'utf8')).join('');
      expect(text).not.toContain('203.0.113.50');
      expect(text).not.toContain('contractor@acme.example.com');
      expect(text).not.toContain('initech-hr-kv');
    } finally {
      again.remove();
    }
  });

  it('writes about the requested number of records for the bench, in one file', async () => {
    const bench = tempDir('keywatch-azure-bench-');
    try {
      const out = await azureKeyVaultDemo.write({ start: START, days: 30, seed: 42, dir: bench.path, incidents: false, records: 3000 });
      expect(out.records).toBe(3000);
      expect(out.files).toHaveLength(1);
      expect(readFileSync(out.files[0] as string, 'utf8').trim().split('\n')).toHaveLength(3000);
    } finally {
      bench.remove();
    }
  });
});
