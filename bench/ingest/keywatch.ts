import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import { ingest } from '../../ingest/pipeline.ts';
import { openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { sampleRss } from './peak-rss.ts';
import { timedStore } from './timed-store.ts';

/**
 * Child process of bench/ingest/run.ts: the full keywatch pipeline on the bench file (framing,
 * raw_events with sha256, normalization, dedup, key_events, the ledger) into a fresh embedded store.
 * Only `ingest()` is timed; opening the store and migrating are not.
 *
 * `node --import tsx bench/ingest/keywatch.ts --file bench/out/cloudtrail-kms-1000000.ndjson --events 1000000`
 * prints one JSON line: {rows, seconds, eventsPerSecond, peakRssMb, inserted, quarantined, ...}.
 * KEYWATCH_BENCH_BATCH_BYTES overrides the configured batch size (default from core/config.ts).
 */

const MAX_RECORD_BYTES = 4 * 1024 * 1024;

function batchBytes(): number {
  const fromEnv = process.env.KEYWATCH_BENCH_BATCH_BYTES;
  if (fromEnv === undefined || fromEnv === '') return Config.parse({}).ingest.batchBytes;
  const n = Number(fromEnv);
  if (!Number.isInteger(n) || n < 1024) throw new Error(`KEYWATCH_BENCH_BATCH_BYTES must be an integer >= 1024, got ${fromEnv}`);
  return n;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { file: { type: 'string' }, events: { type: 'string' } }, strict: true });
  if (values.file === undefined || values.events === undefined) throw new Error('usage: keywatch.ts --file PATH --events N');
  const expected = Number(values.events);
  const file = resolve(values.file);
  const bytesPerBatch = batchBytes();
  const dir = mkdtempSync(join(tmpdir(), 'keywatch-bench-ingest-'));
  try {
    const inner = await openEmbeddedStore({ dataDir: dir });
    try {
      await migrate(inner);
      const { store, stages } = timedStore(inner);
      const rss = sampleRss(100);
      const t0 = performance.now();
      const summary = await ingest([openInput(file)], {
        store,
        clock: systemClock,
        format: 'aws-cloudtrail',
        tenants: {},
        defaultTenant: 'default',
        batchBytes: bytesPerBatch,
        maxRecordBytes: MAX_RECORD_BYTES,
      });
      const seconds = (performance.now() - t0) / 1000;
      const peakRssMb = rss.stop();
      const [row] = await inner.query<{ n: string }>('SELECT count() AS n FROM key_events');
      const rows = Number(row?.n ?? 0);
      const quarantined = Object.values(summary.quarantined).reduce((a, n) => a + n, 0);
      const dropped = Object.values(summary.dropped).reduce((a, n) => a + n, 0);
      if (rows !== expected || summary.read !== expected) {
        throw new Error(
          `key_events holds ${rows} rows after reading ${summary.read} records, expected ${expected} (inserted ${summary.inserted}, duplicates ${summary.duplicates}, quarantined ${JSON.stringify(summary.quarantined)}, dropped ${JSON.stringify(summary.dropped)})`,
        );
      }
      const storeSeconds = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round3(v)]));
      process.stderr.write(`keywatch: ${rows} rows in ${seconds.toFixed(2)} s, ${summary.batches} batches of ${bytesPerBatch} bytes; store time by stage ${JSON.stringify(storeSeconds)}\n`);
      process.stdout.write(
        `${JSON.stringify({
          rows,
          seconds: round3(seconds),
          eventsPerSecond: Math.round(rows / seconds),
          peakRssMb,
          inserted: summary.inserted,
          quarantined,
          dropped,
          duplicates: summary.duplicates,
          batches: summary.batches,
          batchBytes: bytesPerBatch,
          storeSeconds,
        })}\n`,
      );
    } finally {
      await inner.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`keywatch: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
