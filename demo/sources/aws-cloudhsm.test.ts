import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { awsCloudHsmDemo, CLOUDHSM_DEMO_CLUSTERS } from './aws-cloudhsm.ts';

const START = new Date('2026-03-01T00:00:00.000Z');
const DAYS = 3;
const END = new Date(START.getTime() + DAYS * 86_400_000);

describe('aws-cloudhsm demo source', () => {
  let store: Store;
  let workDir: string;
  let written: { files: string[]; records: number };
  let summary: IngestSummary;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'keywatch-aws-cloudhsm-demo-'));
    const dir = join(workDir, 'files');
    mkdirSync(dir);
    written = await awsCloudHsmDemo.write({ start: START, days: DAYS, seed: 11, dir, incidents: true });
    store = await openEmbeddedStore({ dataDir: join(workDir, 'store') });
    await migrate(store, { now: () => START });
    summary = await ingest(
      listInputs([dir]).map((p) => openInput(p)),
      { store, clock: fixedClock(END.toISOString()), format: 'auto', tenants: awsCloudHsmDemo.tenants, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20 },
    );
  });

  afterAll(async () => {
    await store?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('writes gzip subscription deliveries per cluster and day, and a text export, at the natural volume', () => {
    expect(written.files.every((f) => basename(f).startsWith('aws-cloudhsm'))).toBe(true);
    expect(written.files.filter((f) => f.endsWith('.json.gz'))).toHaveLength(DAYS * CLOUDHSM_DEMO_CLUSTERS.length);
    expect(written.files.filter((f) => f.endsWith('.log'))).toHaveLength(1);
    expect(written.records / DAYS).toBeGreaterThan(300);
    expect(written.records / DAYS).toBeLessThan(1500);
  });

  it('ingests with --format auto: nothing quarantined, the control message dropped, the export deduplicated', () => {
    const exported = readFileSync(written.files.find((f) => f.endsWith('.log')) as string, 'utf8').split('\n').filter((l) => /^\S+ Time:/.test(l)).length;
    expect(summary.read).toBe(written.records);
    expect(summary.bySource['aws-cloudhsm']?.read).toBe(written.records);
    expect(summary.quarantined).toEqual({});
    expect(summary.dropped).toEqual({ cloudwatch_control_message: 1 });
    expect(summary.duplicates).toBe(exported);
    expect(summary.inserted).toBe(written.records - 1 - exported);
  });

  it('puts every event in its cluster tenant, with the cluster as account', async () => {
    const rows = await store.query<{ tenant: string; account: string; n: string }>("SELECT tenant, account, count() AS n FROM key_events WHERE source = 'aws-cloudhsm' GROUP BY tenant, account ORDER BY tenant");
    expect(rows.map((r) => [r.tenant, r.account])).toEqual([
      ['acme', 'cluster-ac8t5j1hx6r'],
      ['globex', 'cluster-gx4kq7wz2pn'],
    ]);
  });

  it('contains each incident it lists, and the HSM reboot is no finding', async () => {
    const notes = awsCloudHsmDemo.incidents({ start: START, days: DAYS, seed: 11 });
    expect(notes.map((n) => n.id).sort()).toEqual(['cloudhsm-co-login-failures', 'cloudhsm-sequence-gap', 'cloudhsm-user-created-at-night']);
    const at = (id: string) => Date.parse(notes.find((n) => n.id === id)?.at ?? '');

    // The gap: exactly one finding, on globex's second HSM, around the incident time.
    expect(summary.findings).toBe(1);
    const findings = await store.query<{ tenant: string; stream: string; kind: string; missing: string; after_time: string }>(
      "SELECT tenant, stream, kind, toString(missing) AS missing, toString(after_time) AS after_time FROM audit_integrity FINAL WHERE source = 'aws-cloudhsm'",
    );
    expect(findings).toEqual([{ tenant: 'globex', stream: 'hsm-gx9c4n7kd2w', kind: 'sequence_gap', missing: '6', after_time: expect.any(String) as unknown as string }]);
    expect(Date.parse(`${findings[0]?.after_time.replace(' ', 'T')}Z`)).toBeGreaterThanOrEqual(at('cloudhsm-sequence-gap'));

    // acme's second HSM rebooted: two reboot counters, the second from 0.
    const boots = await store.query<{ reboot: string; first: string }>(
      "SELECT attributes['reboot_counter'] AS reboot, toString(min(toUInt64(attributes['sequence_no']))) AS first FROM key_events WHERE attributes['stream'] = 'hsm-ac7f3s1mu8k' GROUP BY reboot ORDER BY reboot",
    );
    expect(boots).toEqual([{ reboot: String(0x31), first: String(0x1204) }, { reboot: String(0x32), first: '0' }]);

    const burst = await store.query<{ n: string; first: string; last: string; principal: string }>(
      "SELECT count() AS n, toString(min(event_time)) AS first, toString(max(event_time)) AS last, any(principal) AS principal FROM key_events WHERE operation = 'login' AND outcome = 'failure' AND attributes['user_role'] = 'CO'",
    );
    expect(burst[0]).toMatchObject({ n: '24', principal: 'admin' });
    expect(Date.parse(`${burst[0]?.last}Z`) - Date.parse(`${burst[0]?.first}Z`)).toBeLessThan(4 * 60_000);
    expect(Math.abs(Date.parse(`${burst[0]?.first.replace(' ', 'T')}Z`) - at('cloudhsm-co-login-failures'))).toBeLessThan(5_000);

    const created = await store.query<{ tenant: string; stream: string; hour: string }>(
      "SELECT tenant, attributes['stream'] AS stream, toString(toHour(event_time)) AS hour FROM key_events WHERE operation = 'create_user' AND attributes['target_user'] = 'tmp-export' ORDER BY stream",
    );
    expect(created).toEqual([
      { tenant: 'globex', stream: 'hsm-gx3m8r2vq5t', hour: '2' },
      { tenant: 'globex', stream: 'hsm-gx9c4n7kd2w', hour: '2' },
    ]);
  });

  it('is deterministic for a seed', async () => {
    const dir = join(workDir, 'again');
    mkdirSync(dir);
    const again = await awsCloudHsmDemo.write({ start: START, days: DAYS, seed: 11, dir, incidents: true });
    expect(again.records).toBe(written.records);
    expect(again.files.map((f) => basename(f))).toEqual(written.files.map((f) => basename(f)));
    for (let i = 0; i < again.files.length; i++) {
      const read = (f: string) => (f.endsWith('.gz') ? gunzipSync(readFileSync(f)) : readFileSync(f)).toString('utf8');
      expect(read(again.files[i] as string)).toBe(read(written.files[i] as string));
    }
  });

  it('writes about the requested number of records for the bench, in one gzip file', async () => {
    const dir = join(workDir, 'bench');
    mkdirSync(dir);
    const bench = await awsCloudHsmDemo.write({ start: START, days: 30, seed: 7, dir, incidents: false, records: 5000 });
    expect(bench).toMatchObject({ records: 5000, files: [join(dir, 'aws-cloudhsm-bench.json.gz')] });
    const docs = gunzipSync(readFileSync(bench.files[0] as string)).toString('utf8').split('}{"messageType"');
    expect(docs.length).toBeGreaterThanOrEqual(50);
  });
});
