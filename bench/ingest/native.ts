import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
// The one place outside storage/chdb/ that imports chdb: this side measures the engine itself.
import { Session } from 'chdb';
import { sampleRss } from './peak-rss.ts';

/**
 * Child process of bench/ingest/run.ts: the engine's own speed on the bench file. chdb reads the
 * NDJSON with its JSONEachRow parser into a MergeTree table whose schema it infers from the file;
 * no hashing, normalization or dedup. Only the INSERT is timed.
 *
 * `node --import tsx bench/ingest/native.ts --file bench/out/cloudtrail-kms-1000000.ndjson --events 1000000`
 * prints one JSON line: {rows, seconds, eventsPerSecond, peakRssMb, clickhouse}.
 */

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { file: { type: 'string' }, events: { type: 'string' } }, strict: true });
  if (values.file === undefined || values.events === undefined) throw new Error('usage: native.ts --file PATH --events N');
  const expected = Number(values.events);
  const input = `file(${sqlString(resolve(values.file))}, JSONEachRow)`;
  const dir = mkdtempSync(join(tmpdir(), 'keywatch-bench-native-'));
  let session: Session | undefined;
  try {
    session = new Session(dir);
    const clickhouse = session.query('SELECT version()', 'TSV').trim();
    session.query(`CREATE TABLE raw ENGINE = MergeTree ORDER BY tuple() EMPTY AS SELECT * FROM ${input}`, 'TSV');
    const rss = sampleRss();
    const t0 = performance.now();
    await session.queryAsync(`INSERT INTO raw SELECT * FROM ${input}`, { format: 'TSV' });
    const seconds = (performance.now() - t0) / 1000;
    const peakRssMb = rss.stop();
    const rows = Number(session.query('SELECT count() FROM raw', 'TSV').trim());
    if (rows !== expected) throw new Error(`raw holds ${rows} rows, expected ${expected}`);
    process.stderr.write(`native: ${rows} rows in ${seconds.toFixed(2)} s; inferred schema: ${session.query('SELECT count() FROM system.columns WHERE table = \'raw\' AND database = currentDatabase()', 'TSV').trim()} columns\n`);
    process.stdout.write(`${JSON.stringify({ rows, seconds: Math.round(seconds * 1000) / 1000, eventsPerSecond: Math.round(rows / seconds), peakRssMb, clickhouse })}\n`);
  } finally {
    session?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`native: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
