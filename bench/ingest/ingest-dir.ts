import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../../core/clock.ts';
import { Config } from '../../core/config.ts';
import { ingest } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openEmbeddedStore } from '../../storage/chdb/embedded-store.ts';
import { migrate } from '../../storage/migrate.ts';
import { sampleRss } from './peak-rss.ts';

/**
 * Child process of bench/ingest/sources.ts: the full pipeline over one directory of one source's
 * files, `--format auto`, into a fresh embedded store. Only `ingest()` is timed.
 *
 * `node --import tsx bench/ingest/ingest-dir.ts --dir bench/out/sources-200000/vault --records 200000`
 * prints one JSON line: {read, seconds, recordsPerSecond, inserted, dropped, quarantined, peakRssMb, bySource}.
 * It fails when the number of records read is not `--records`, when anything is quarantined, or
 * when a record is unaccounted for.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, records: { type: 'string' } }, strict: true });
  if (values.dir === undefined || values.records === undefined) throw new Error('usage: ingest-dir.ts --dir DIR --records N');
  const expected = Number(values.records);
  const files = listInputs([resolve(values.dir)]);
  const config = Config.parse({});
  const dataDir = mkdtempSync(join(tmpdir(), 'keywatch-bench-sources-'));
  try {
    const store = await openEmbeddedStore({ dataDir });
    try {
      await migrate(store);
      const rss = sampleRss(100);
      const t0 = performance.now();
      const summary = await ingest(
        (function* () {
          for (const f of files) yield openInput(f);
        })(),
        { store, clock: systemClock, format: 'auto', tenants: {}, defaultTenant: 'default', batchBytes: config.ingest.batchBytes, maxRecordBytes: config.ingest.maxRecordBytes },
      );
      const seconds = (performance.now() - t0) / 1000;
      const peakRssMb = rss.stop();
      const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
      const quarantined = sum(summary.quarantined);
      const dropped = sum(summary.dropped);
      if (summary.read !== expected) throw new Error(`read ${summary.read} records, expected ${expected}`);
      if (quarantined > 0) throw new Error(`quarantined ${JSON.stringify(summary.quarantined)}: generated traffic must all be valid`);
      if (summary.inserted + summary.duplicates + dropped !== summary.read) throw new Error(`records unaccounted for: ${JSON.stringify(summary)}`);
      const [row] = await store.query<{ n: string }>('SELECT count() AS n FROM key_events');
      if (Number(row?.n) !== summary.inserted) throw new Error(`key_events holds ${row?.n} rows, the run inserted ${summary.inserted}`);
      process.stdout.write(
        `${JSON.stringify({
          files: files.length,
          read: summary.read,
          seconds: Math.round(seconds * 1000) / 1000,
          recordsPerSecond: Math.round(summary.read / seconds),
          inserted: summary.inserted,
          duplicates: summary.duplicates,
          dropped: summary.dropped,
          quarantined,
          bySource: summary.bySource,
          bytes: summary.bytes,
          batches: summary.batches,
          peakRssMb,
        })}\n`,
      );
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`ingest-dir: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
