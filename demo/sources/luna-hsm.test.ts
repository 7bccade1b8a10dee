import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../../test/helpers/temp-dir.ts';
import { LUNA_DEMO_APPLIANCES, LUNA_DEMO_DPOD, lunaHsmDemo } from './luna-hsm.ts';

const START = new Date('2026-03-01T00:00:00.000Z');
const DAYS = 3;
const END = new Date(START.getTime() + DAYS * 86_400_000);
const ms = (chTime: string) => Date.parse(`${chTime.replace(' ', 'T')}Z`);

describe('luna-hsm demo source', () => {
  let store: Store;
  let dir: ReturnType<typeof tempDir>;
  let written: { files: string[]; records: number };
  let summary: IngestSummary;

  beforeAll(async () => {
    dir = tempDir('keywatch-luna-demo-');
    const files = join(dir.path, 'files');
    mkdirSync(files);
    written = await lunaHsmDemo.write({ start: START, days: DAYS, seed: 5, dir: files, incidents: true });
    store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
    await migrate(store, { now: () => START });
    summary = await ingest(
      listInputs([files]).map((p) => openInput(p)),
      { store, clock: fixedClock(END.toISOString()), format: 'auto', tenants: lunaHsmDemo.tenants, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20 },
    );
  });

  afterAll(async () => {
    await store?.close();
    dir?.remove();
  });

  it('writes one syslog file per appliance and day and one DPoD export per service and day, at the natural volume', () => {
    expect(written.files.every((f) => basename(f).startsWith('luna-hsm'))).toBe(true);
    expect(written.files.filter((f) => f.endsWith('.log'))).toHaveLength(DAYS * LUNA_DEMO_APPLIANCES.length);
    expect(written.files.filter((f) => f.endsWith('.ndjson.gz'))).toHaveLength(DAYS * LUNA_DEMO_DPOD.length);
    expect(written.records / DAYS).toBeGreaterThan(300);
    expect(written.records / DAYS).toBeLessThan(1500);
  });

  it('ingests with --format auto as luna-hsm events with nothing quarantined or dropped', async () => {
    expect(summary).toMatchObject({ read: written.records, inserted: written.records, duplicates: 0, quarantined: {}, dropped: {} });
    expect(Object.keys(summary.bySource)).toEqual(['luna-hsm']);
    const tenants = await store.query<{ tenant: string; account: string }>('SELECT DISTINCT tenant, account FROM key_events ORDER BY tenant, account');
    expect(tenants).toEqual([
      { tenant: 'acme', account: '1520101' },
      { tenant: 'acme', account: '1520102' },
      { tenant: 'globex', account: 'a3c5e7f9-1b2d-4f68-9a0c-2e4f6a8c0b1d' },
      { tenant: 'initech', account: '1530201' },
    ]);
    const other = await store.query<{ n: string }>("SELECT count() AS n FROM key_events WHERE operation = 'other' AND operation_class NOT IN ('auth')");
    expect(Number(other[0]?.n)).toBe(0);
  });

  it('contains each incident it lists', async () => {
    const notes = lunaHsmDemo.incidents({ start: START, days: DAYS, seed: 5 });
    expect(notes.map((n) => n.id).sort()).toEqual(['dpod-unknown-client', 'luna-audit-record-gap', 'luna-clone-at-night', 'luna-co-login-failures']);
    const at = (id: string) => Date.parse(notes.find((n) => n.id === id)?.at ?? '');

    const failures = await store.query<{ n: string; first: string; last: string; principal: string; account: string }>(
      "SELECT count() AS n, toString(min(event_time)) AS first, toString(max(event_time)) AS last, any(principal) AS principal, any(account) AS account FROM key_events WHERE operation = 'login' AND outcome = 'failure'",
    );
    expect(failures[0]).toMatchObject({ n: '8', principal: 'CO', account: '1520101' });
    expect(ms(failures[0]?.last ?? '') - ms(failures[0]?.first ?? '')).toBeLessThan(2 * 60_000);
    expect(Math.abs(ms(failures[0]?.first ?? '') - at('luna-co-login-failures'))).toBeLessThan(5_000);

    expect(summary.findings).toBe(1);
    const gaps = await store.query<{ tenant: string; stream: string; missing: string; after_time: string }>(
      "SELECT tenant, stream, toString(missing) AS missing, toString(after_time) AS after_time FROM audit_integrity FINAL WHERE source = 'luna-hsm'",
    );
    expect(gaps).toEqual([{ tenant: 'acme', stream: '1520102', missing: '25', after_time: expect.any(String) as unknown as string }]);
    expect(ms(gaps[0]?.after_time ?? '')).toBeGreaterThanOrEqual(at('luna-audit-record-gap'));

    const clones = await store.query<{ n: string; principal: string; hour: string; tenant: string }>(
      "SELECT count() AS n, any(principal) AS principal, toString(any(toHour(event_time))) AS hour, any(tenant) AS tenant FROM key_events WHERE operation = 'backup_key'",
    );
    expect(clones[0]).toEqual({ n: '6', principal: 'SO', hour: '2', tenant: 'initech' });

    const intruder = await store.query<{ n: string; ip: string; first: string }>(
      "SELECT count() AS n, any(source_ip) AS ip, toString(min(event_time)) AS first FROM key_events WHERE principal = '0badc0de-4a1b-4c2d-8e3f-5a6b7c8d9e0f' AND operation = 'decrypt'",
    );
    expect(intruder[0]).toMatchObject({ n: '40', ip: '203.0.113.45' });
    expect(ms(intruder[0]?.first ?? '') - at('dpod-unknown-client')).toBeLessThan(10_000);
  });

  it('is deterministic for a seed', async () => {
    const again = join(dir.path, 'again');
    mkdirSync(again);
    const second = await lunaHsmDemo.write({ start: START, days: DAYS, seed: 5, dir: again, incidents: true });
    expect(second.records).toBe(written.records);
    const read = (f: string) => (f.endsWith('.gz') ? gunzipSync(readFileSync(f)) : readFileSync(f)).toString('utf8');
    for (let i = 0; i < second.files.length; i++) expect(read(second.files[i] as string)).toBe(read(written.files[i] as string));
  });

  it('writes about the requested number of records for the bench, all of them readable', async () => {
    const bench = join(dir.path, 'bench');
    mkdirSync(bench);
    const out = await lunaHsmDemo.write({ start: START, days: 30, seed: 7, dir: bench, incidents: false, records: 3000 });
    expect(out.records).toBe(3000);
    const lines = out.files.map((f) => readFileSync(f, 'utf8').trim().split('\n').length);
    expect(lines.reduce((a, n) => a + n, 0)).toBe(3000);
    const s = await ingest(out.files.map((p) => openInput(p)), { store, clock: fixedClock(END.toISOString()), format: 'auto', tenants: lunaHsmDemo.tenants, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20 });
    expect(s).toMatchObject({ read: 3000, quarantined: {}, dropped: {} });
  });
});
