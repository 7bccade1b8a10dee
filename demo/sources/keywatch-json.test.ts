import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { ingest, type IngestSummary } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { keywatchJsonDemo } from './keywatch-json.ts';

const START = new Date('2026-11-20T00:00:00Z');
let dir: string;
let store: Store;
let summary: IngestSummary;
let written: { files: string[]; records: number };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-demo-probes-'));
  written = await keywatchJsonDemo.write({ start: START, days: 3, seed: 7, dir, incidents: true });
  store = await openEmbeddedStore({ dataDir: join(dir, 'store') });
  await migrate(store, { now: () => new Date('2026-11-29T00:00:00Z') });
  summary = await ingest(
    listInputs(written.files).map((f) => openInput(f)),
    { store, clock: fixedClock('2026-11-29T00:00:00Z'), format: 'auto', tenants: keywatchJsonDemo.tenants, defaultTenant: 'default', batchBytes: 8 << 20, maxRecordBytes: 1 << 20 },
  );
});

afterAll(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the PKCS#11 probe demo source', () => {
  it('writes a probe round every five minutes per partition, one file per day, all of it ingestible with --format auto', () => {
    expect(written.files).toHaveLength(3);
    // Latency probes every 5 minutes, and each morning a KCV comparison per AWS BYOK key (7).
    expect(written.records).toBe(3 * 288 * 4 * 3 + 3 * 7);
    expect(summary).toMatchObject({ read: written.records, inserted: written.records, quarantined: {}, dropped: {} });
    expect(Object.keys(summary.bySource)).toEqual(['keywatch-json']);
  });

  it('maps every partition to its tenant and records latency for every probe', async () => {
    const rows = await store.query<{ tenant: string; n: string; nulls: string }>(
      "SELECT tenant, count() AS n, countIf(latency_ms IS NULL) AS nulls FROM key_events WHERE source = 'pkcs11-probe' GROUP BY tenant ORDER BY tenant",
    );
    expect(rows.map((r) => [r.tenant, Number(r.nulls)])).toEqual([['acme', 0], ['globex', 0], ['initech', 0]]);
  });

  it('contains the injected degradation: slow probes, then device errors, on one HSM only', async () => {
    const [incident] = keywatchJsonDemo.incidents({ start: START, days: 3, seed: 7 });
    const at = String(incident?.at).replace('T', ' ').replace('Z', '');
    const rows = await store.query<{ account: string; failures: string; p50: number }>(
      `SELECT account, countIf(error_code = 'CKR_DEVICE_ERROR') AS failures, quantile(0.5)(latency_ms) AS p50
       FROM key_events WHERE event_time >= {at:DateTime64(3)} AND event_time < {at:DateTime64(3)} + INTERVAL 40 MINUTE
       GROUP BY account ORDER BY account`,
      { at },
    );
    const byAccount = Object.fromEntries(rows.map((r) => [r.account, r]));
    expect(Number(byAccount['luna-1520102-par-acme']?.failures)).toBeGreaterThanOrEqual(4 * 3 - 1);
    expect(Number(byAccount['luna-1520102-par-acme']?.p50)).toBeGreaterThan(50);
    expect(Number(byAccount['luna-1520101-par-acme']?.failures)).toBe(0);
    expect(Number(byAccount['luna-1520101-par-acme']?.p50)).toBeLessThan(15);
  });

  it('writes the same bytes for the same seed', async () => {
    const again = mkdtempSync(join(tmpdir(), 'keywatch-demo-probes-again-'));
    try {
      const second = await keywatchJsonDemo.write({ start: START, days: 3, seed: 7, dir: again, incidents: true });
      for (const [i, f] of second.files.entries()) expect(readFileSync(f, 'utf8')).toBe(readFileSync(written.files[i] as string, 'utf8'));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });

  it('stops at a record budget', async () => {
    const bench = mkdtempSync(join(tmpdir(), 'keywatch-demo-probes-bench-'));
    try {
      const r = await keywatchJsonDemo.write({ start: START, days: 30, seed: 7, dir: bench, incidents: false, records: 5000 });
      expect(r.records).toBe(5000);
      expect(r.files).toHaveLength(1);
      expect(readFileSync(r.files[0] as string, 'utf8').trim().split('\n')).toHaveLength(5000);
    } finally {
      rmSync(bench, { recursive: true, force: true });
    }
  });
});
