import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { findCoverageGaps } from '../../ingest/coverage-gaps.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { gcpKmsDemo } from './gcp-kms.ts';

const START = new Date('2026-03-01T00:00:00.000Z');
const DAYS = 3;
const END = new Date(START.getTime() + DAYS * 86_400_000);

describe('gcp-kms demo source', () => {
  let store: Store;
  let workDir: string;
  let written: { files: string[]; records: number };
  let summary: IngestSummary;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'keywatch-gcp-kms-demo-'));
    const dir = join(workDir, 'files');
    mkdirSync(dir);
    written = await gcpKmsDemo.write({ start: START, days: DAYS, seed: 7, dir, incidents: true });
    store = await openEmbeddedStore({ dataDir: join(workDir, 'store') });
    await migrate(store, { now: () => START });
    summary = await ingest(
      listInputs([dir]).map((p) => openInput(p)),
      { store, clock: fixedClock(END.toISOString()), format: 'auto', tenants: gcpKmsDemo.tenants, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20 },
    );
  });

  afterAll(async () => {
    await store?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const one = async <T>(sql: string): Promise<T> => (await store.query<T>(sql))[0] as T;

  it('writes gcp-kms files at the natural demo volume, with Pub/Sub copies of the last day', () => {
    expect(written.files.every((f) => f.split('/').pop()?.startsWith('gcp-kms'))).toBe(true);
    expect(written.records / DAYS).toBeGreaterThan(300);
    expect(written.records / DAYS).toBeLessThan(1500);
    expect(written.files.some((f) => f.includes('pubsub-push'))).toBe(true);
  });

  it('ingests with --format auto: nothing quarantined, other services dropped, Pub/Sub copies deduplicated', async () => {
    const pushed = readFileSync(written.files.find((f) => f.includes('pubsub-push')) as string, 'utf8').trim().split('\n').length;
    expect(summary.read).toBe(written.records);
    expect(summary.quarantined).toEqual({});
    expect(Object.keys(summary.dropped)).toEqual(['non_kms_service']);
    expect(summary.duplicates).toBe(pushed);
    expect(summary.bySource['gcp-kms']?.read).toBe(written.records);
    const { unmapped } = await one<{ unmapped: string }>("SELECT countIf(tenant NOT IN ('acme', 'globex', 'initech')) AS unmapped FROM key_events");
    expect(Number(unmapped)).toBe(0);
  });

  it('contains each incident it lists', async () => {
    const notes = gcpKmsDemo.incidents({ start: START, days: DAYS, seed: 7 });
    expect(notes.map((n) => n.id).sort()).toEqual(['gcp-data-access-off', 'gcp-denied-decrypt-burst', 'gcp-public-key-policy', 'gcp-version-destroyed']);
    const at = (id: string) => notes.find((n) => n.id === id)?.at.replace('T', ' ').replace('Z', '');

    const policy = await store.query<{ event_time: string; tenant: string; key_id: string }>(
      "SELECT event_time, tenant, key_id FROM key_events WHERE operation = 'update_policy' AND attributes['public_member'] = 'true'",
    );
    expect(policy).toEqual([{ event_time: at('gcp-public-key-policy'), tenant: 'globex', key_id: 'projects/globex-keys-prod/locations/us-east1/keyRings/payments/cryptoKeys/billing-cmek' }]);

    const destroyed = await store.query<{ event_time: string; tenant: string; key_id: string; key_version: string }>(
      "SELECT event_time, tenant, key_id, key_version FROM key_events WHERE vendor_operation = 'DestroyCryptoKeyVersion'",
    );
    expect(destroyed).toHaveLength(1);
    expect(destroyed[0]).toMatchObject({ event_time: at('gcp-version-destroyed'), tenant: 'initech', key_id: 'projects/initech-byok/locations/australia-southeast1/keyRings/tps/cryptoKeys/reports-cmek' });
    // The version destroyed is the key's primary at that moment (routine rotations may have moved it).
    const primary = await one<{ v: string }>(
      `SELECT argMax(key_version, event_time) AS v FROM key_events WHERE key_id = '${destroyed[0]?.key_id}' AND operation = 'rotate_key' AND event_time < '${at('gcp-version-destroyed')}'`,
    );
    expect(destroyed[0]?.key_version).toBe(primary.v === '' ? '4' : primary.v);

    const burst = await one<{ n: string; first: string; last: string }>(
      "SELECT count() AS n, toString(min(event_time)) AS first, toString(max(event_time)) AS last FROM key_events WHERE principal = 'scraper@unknown-proj-7781.iam.gserviceaccount.com' AND operation = 'decrypt' AND error_code = 'PERMISSION_DENIED' AND source_ip = '203.0.113.66'",
    );
    expect(Number(burst.n)).toBe(80);
    expect(Date.parse(`${burst.last}Z`) - Date.parse(`${burst.first}Z`)).toBeLessThan(10 * 60_000);

    const gaps = await findCoverageGaps(store, { from: START, to: END });
    const analytics = gaps.filter((g) => g.account === 'acme-analytics');
    expect(analytics.length).toBeGreaterThan(0);
    expect(analytics.every((g) => g.reason === 'no_data_plane_events_for_account' && g.tenant === 'acme' && g.source === 'gcp-kms')).toBe(true);
    // Projects with Data Access logs on have no such gap.
    expect(gaps.filter((g) => g.source === 'gcp-kms' && g.reason === 'no_data_plane_events_for_account' && g.account !== 'acme-analytics')).toEqual([]);
  });

  it('is deterministic for a seed', async () => {
    const dir = join(workDir, 'again');
    mkdirSync(dir);
    const again = await gcpKmsDemo.write({ start: START, days: DAYS, seed: 7, dir, incidents: true });
    expect(again.records).toBe(written.records);
    const name = (f: string) => f.split('/').pop();
    expect(again.files.map(name)).toEqual(written.files.map(name));
    for (let i = 0; i < again.files.length; i++) expect(readFileSync(again.files[i] as string, 'utf8')).toBe(readFileSync(written.files[i] as string, 'utf8'));
  });

  it('writes about the requested number of records for the bench, without incidents', async () => {
    const dir = join(workDir, 'bench');
    mkdirSync(dir);
    const bench = await gcpKmsDemo.write({ start: START, days: 30, seed: 7, dir, incidents: false, records: 5000 });
    expect(bench.files).toHaveLength(1);
    expect(bench.records).toBe(5000);
    const text = readFileSync(bench.files[0] as string, 'utf8');
    expect(text.trim().split('\n')).toHaveLength(5000);
    expect(text).not.toContain('unknown-proj-7781');
  });
});
