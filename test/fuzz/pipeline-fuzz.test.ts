import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../core/clock.ts';
import { COLLECTORS } from '../../ingest/collectors.ts';
import { ingest } from '../../ingest/pipeline.ts';
import type { BatchResult } from '../../ingest/sink.ts';
import { openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import type { Store } from '../../storage/store.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { documentedReasons, fixtureFiles, fixtureRecords } from './corpus.ts';
import { applyPlan, fuzzSettings, samplePlans } from './mutate.ts';

// End to end, at a smaller scale than the normalizer fuzz: mutants written to files and read back
// through the real pipeline (file transport, framing, batching, sink) into one embedded store.
const fuzz = fuzzSettings(100_000);
const seed = fuzz.seed;
// A twentieth of the normalizer fuzz: 5,000 per format by default.
const runs = Math.ceil(fuzz.runs / 20);
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);

describe('the ingest pipeline under fuzzing', () => {
  let store: Store;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir('keywatch-pipeline-fuzz-');
    store = await openEmbeddedStore({ dataDir: join(dir.path, 'store') });
    await migrate(store, { now: () => new Date('2026-11-29T00:00:00.000Z') });
  });
  afterAll(async () => {
    await store?.close();
    dir?.remove();
  });

  it.each(COLLECTORS.map((c) => [c.source, c] as const))(
    `accounts for every record of ${runs} mutated %s records: stored, duplicate, quarantined with a reason or dropped with a reason`,
    async (_source, collector) => {
      let path: string;
      if (collector.frame) {
        // Text producers: mutated whole fixture inputs, one after another, named like a real file
        // (the HSM is named by the file).
        const files = fixtureFiles(collector).filter((f) => f.endsWith('.log') || f.endsWith('.txt'));
        const corpus = files.map((f) => readFileSync(f));
        const plans = samplePlans(corpus.length, Math.ceil(runs / 10), seed);
        path = join(dir.path, basename(files[0] as string));
        writeFileSync(path, Buffer.concat(plans.flatMap((p) => [applyPlan(corpus, p), Buffer.from('\n')])));
      } else {
        const corpus = await fixtureRecords(collector);
        const plans = samplePlans(corpus.length, runs, seed);
        path = join(dir.path, `${collector.source}.ndjson`);
        // Line breaks inside a mutant split it into several records: the pipeline must count each.
        writeFileSync(path, Buffer.concat(plans.flatMap((p) => [applyPlan(corpus, p), Buffer.from('\n')])));
      }
      const batches: BatchResult[] = [];
      const summary = await ingest([openInput(path)], {
        store,
        clock: fixedClock('2026-11-29T00:00:00.000Z'),
        format: collector.formats[0] as string,
        tenants: {},
        defaultTenant: 'default',
        batchBytes: 8 << 20,
        maxRecordBytes: 1 << 20,
        onBatch: (b) => batches.push(b),
      });
      const quarantined = sum(summary.quarantined);
      const dropped = sum(summary.dropped);
      expect(summary.read).toBeGreaterThanOrEqual(collector.frame ? runs / 10 : runs);
      expect(summary.read, 'every record read is accounted for').toBe(summary.inserted + summary.duplicates + quarantined + dropped);
      expect(summary.inserted).toBeGreaterThan(0);
      expect(quarantined).toBeGreaterThan(0);

      const ids = batches.map((b) => b.batchId);
      const rows = await store.query<{ reason: string; message: string; n: string }>(
        'SELECT reason, message, count() AS n FROM quarantine WHERE batch_id IN {ids:Array(String)} GROUP BY reason, message',
        { ids },
      );
      expect(rows.reduce((a, r) => a + Number(r.n), 0), 'one quarantine row per quarantined record').toBe(quarantined);
      const known = documentedReasons(collector);
      for (const r of rows) {
        expect(known.has(r.reason), `reason ${r.reason} is documented`).toBe(true);
        expect(r.message.length, `a ${r.reason} row has a message`).toBeGreaterThan(0);
      }
      for (const reason of Object.keys(summary.dropped)) expect(known.has(reason), `drop reason ${reason} is documented`).toBe(true);
      const [events] = await store.query<{ n: string }>("SELECT count() AS n FROM key_events WHERE splitByChar(':', raw_id)[1] IN {ids:Array(String)}", { ids });
      expect(Number(events?.n)).toBe(summary.inserted);
    },
    120_000,
  );
});
