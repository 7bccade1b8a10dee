import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { KeyEvent } from '../../core/key-event.ts';
import type { Collector } from '../../ingest/collector.ts';
import { collectorForFormat, sniffCollector } from '../../ingest/collectors.ts';
import { ingest, type IngestOptions, type IngestSummary } from '../../ingest/pipeline.ts';
import type { BatchResult } from '../../ingest/sink.ts';
import { openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';

/**
 * The golden-fixture suite every collector runs (see any `ingest/<source>/fixtures/README.md`).
 *
 * Layout of `fixturesDir`:
 *  - `<case>.<ext>` (ext: json, ndjson, log, txt): an input exactly as a transport delivers it;
 *  - `<case>.expected.json`: either one KeyEvent row (the input holds one record that becomes one
 *    event), an array of rows (every event the input yields, in `event_time, event_id` order), or
 *    `{ "events": [rows], "summary": { partial IngestSummary } }` when some records are dropped;
 *  - `bad/<case>.<ext>` + `bad/<case>.expected.json` = `{ "status": "quarantined" | "dropped",
 *    "reason": ..., "messageContains": ... }` for inputs of one record that must not become events.
 * Rows are as `SELECT * FROM key_events FORMAT JSONEachRow` returns them; `raw_id` is written
 * `<batch_id>:<seq>` (seq = the record's index in its batch). Each case is ingested on its own,
 * with the collector's first format, a fixed clock (`ingest_time` 2026-11-29 00:00:00.000), the
 * given tenants and default tenant `default`.
 */
export interface GoldenSuiteOptions {
  collector: Collector;
  fixturesDir: string;
  tenants: Record<string, string>;
  requiredCases: string[];
  requiredBadCases: string[];
  /** Good cases that auto-detection cannot recognise on their own (e.g. a bare JSON array). */
  notSniffable?: string[];
}

export const GOLDEN_INGEST_TIME = '2026-11-29 00:00:00.000';
const EXTENSIONS = ['.json', '.ndjson', '.log', '.txt', '.jsonl'];

interface BadExpectation {
  status: 'quarantined' | 'dropped';
  reason: string;
  messageContains: string;
}

function caseFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.expected.json') || f === 'README.md') continue;
    const ext = EXTENSIONS.find((e) => f.endsWith(e));
    if (ext) out.set(f.slice(0, -ext.length), join(dir, f));
  }
  return out;
}

export function collectorGoldenSuite(o: GoldenSuiteOptions): void {
  const good = caseFiles(o.fixturesDir);
  const bad = caseFiles(join(o.fixturesDir, 'bad'));
  const format = o.collector.formats[0] as string;
  let store: Store;
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), `keywatch-${o.collector.source}-golden-`));
    store = await openEmbeddedStore({ dataDir: join(workDir, 'store') });
    await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
  });
  afterAll(async () => {
    await store?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  async function run(path: string, opts: Partial<IngestOptions> = {}): Promise<{ summary: IngestSummary; batches: BatchResult[] }> {
    const batches: BatchResult[] = [];
    const summary = await ingest([openInput(path)], {
      store,
      clock: fixedClock('2026-11-29T00:00:00.000Z'),
      format,
      tenants: o.tenants,
      defaultTenant: 'default',
      batchBytes: 8 << 20,
      maxRecordBytes: 1 << 20,
      onBatch: (b) => batches.push(b),
      ...opts,
    });
    return { summary, batches };
  }

  const sumOf = (r: Record<string, number>) => Object.values(r).reduce((a, n) => a + n, 0);

  describe(`${o.collector.source} fixtures`, () => {
    it('has every required case, each with an expected file, and a README that describes each one', () => {
      expect([...good.keys()]).toEqual(expect.arrayContaining(o.requiredCases));
      expect([...bad.keys()]).toEqual(expect.arrayContaining(o.requiredBadCases));
      const readme = readFileSync(join(o.fixturesDir, 'README.md'), 'utf8');
      for (const name of good.keys()) {
        expect(existsSync(join(o.fixturesDir, `${name}.expected.json`)), `${name}.expected.json`).toBe(true);
        expect(readme, `README.md mentions ${name}`).toContain(`\`${name}\``);
      }
      for (const name of bad.keys()) {
        expect(existsSync(join(o.fixturesDir, 'bad', `${name}.expected.json`)), `bad/${name}.expected.json`).toBe(true);
        expect(readme, `README.md mentions ${name}`).toContain(`\`${name}\``);
      }
    });

    it('is found by its format names', () => {
      for (const f of o.collector.formats) expect(collectorForFormat(f)).toBe(o.collector);
    });
  });

  describe(`${o.collector.source} collector, golden fixtures`, () => {
    it.each([...good.keys()])('ingests %s exactly as the events in its expected file', async (name) => {
      const path = good.get(name) as string;
      const expectedFile = JSON.parse(readFileSync(join(o.fixturesDir, `${name}.expected.json`), 'utf8')) as unknown;
      const wrapped = !Array.isArray(expectedFile) && typeof expectedFile === 'object' && expectedFile !== null && 'events' in expectedFile;
      const expected = (wrapped ? (expectedFile as { events: unknown[] }).events : Array.isArray(expectedFile) ? expectedFile : [expectedFile]) as Record<string, unknown>[];
      const { summary, batches } = await run(path);
      const q = sumOf(summary.quarantined);
      const d = sumOf(summary.dropped);
      expect(summary.read, 'every record is accounted for').toBe(summary.inserted + summary.duplicates + q + d);
      if (wrapped) expect(summary).toMatchObject((expectedFile as { summary?: object }).summary ?? {});
      else expect(summary).toMatchObject({ duplicates: 0, quarantined: {}, dropped: {} });
      expect(summary.inserted).toBe(expected.length);

      const ids = batches.map((b) => b.batchId);
      const rows = await store.query(`SELECT * FROM key_events WHERE splitByChar(':', raw_id)[1] IN {ids:Array(String)} ORDER BY event_time, event_id`, { ids });
      const events = rows.map((r) => KeyEvent.parse(r));
      const byBatch = new Map(ids.map((id) => [id, '<batch_id>']));
      const shown = events.map((e) => {
        const [batch, seq] = e.raw_id.split(':');
        expect(byBatch.has(batch as string), 'raw_id names a batch of this run').toBe(true);
        return { ...e, raw_id: `<batch_id>:${seq}` };
      });
      expect(shown).toEqual(expected);
    });

    it.each([...good.keys()].filter((n) => !(o.notSniffable ?? []).includes(n)))('recognises %s with --format auto', (name) => {
      const head = readFileSync(good.get(name) as string).subarray(0, 64 * 1024).toString('utf8');
      expect(sniffCollector(head)?.source).toBe(o.collector.source);
    });

    it.each([...bad.keys()])('quarantines or drops bad/%s with the reason in its expected file and keeps the record', async (name) => {
      const path = bad.get(name) as string;
      const expected = JSON.parse(readFileSync(join(o.fixturesDir, 'bad', `${name}.expected.json`), 'utf8')) as BadExpectation;
      const { summary, batches } = await run(path);
      expect(summary).toMatchObject({ read: 1, normalized: 0, inserted: 0, duplicates: 0 });
      const batchId = (batches[0] as BatchResult).batchId;
      const quarantined = await store.query<{ reason: string; message: string; record: string }>('SELECT reason, message, record FROM quarantine WHERE batch_id = {b:String}', { b: batchId });
      if (expected.status === 'quarantined') {
        expect(summary.quarantined).toEqual({ [expected.reason]: 1 });
        expect(summary.dropped).toEqual({});
        expect(quarantined).toHaveLength(1);
        expect(quarantined[0]?.reason).toBe(expected.reason);
        expect(quarantined[0]?.message).toContain(expected.messageContains);
        expect(quarantined[0]?.record.length).toBeGreaterThan(0);
      } else {
        expect(summary.dropped).toEqual({ [expected.reason]: 1 });
        expect(summary.quarantined).toEqual({});
        expect(quarantined).toEqual([]);
      }
      const [raw] = await store.query<{ n: string }>('SELECT count() AS n FROM raw_events WHERE batch_id = {b:String}', { b: batchId });
      expect(Number(raw?.n), 'the raw record is kept').toBe(1);
    });
  });
}
