import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_EVENTS, ensureEventsFile } from './generate.ts';
import { runBenchChild } from '../child.ts';
import { OUT_DIR, REPO_ROOT } from './paths.ts';

/**
 * `npm run bench:ingest -- [--events N] [--memory-check]`: native chdb JSONEachRow insert versus
 * the keywatch pipeline on the same file, each side in its own child process (chdb allows one data
 * directory per process). Prints one JSON line and writes it to bench/out/ingest-<timestamp>.json.
 * Exits 0 whether or not the target is met; non-zero when a side fails or a count is wrong.
 */

const TARGET_RATIO = 0.5;

interface NativeResult {
  rows: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMb?: number;
  clickhouse?: string;
}

interface KeywatchResult {
  rows: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMb: number;
  inserted: number;
  quarantined: number;
  storeSeconds?: Record<string, number>;
}

const log = (msg: string) => process.stderr.write(`bench:ingest: ${msg}\n`);


function checkRows(side: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${side} loaded ${got} rows, expected ${want}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, 'memory-check': { type: 'boolean', default: false } }, strict: true });
  const events = values.events === undefined ? DEFAULT_EVENTS : Number(values.events);
  if (!Number.isInteger(events) || events <= 0) throw new Error(`--events must be a positive integer, got ${values.events}`);
  const memoryCheck = values['memory-check'] === true;
  mkdirSync(OUT_DIR, { recursive: true });
  const at = new Date();
  // Other work on the machine moves both sides' numbers; the load at the start says how busy it was.
  const loadAvg = loadavg().map((n) => Math.round(n * 100) / 100);
  const stamp = at.toISOString().replace(/[:.]/g, '-');

  const file = await ensureEventsFile({ events, log });
  log(`input ${relative(REPO_ROOT, file.path)}: ${file.events} events, ${(file.bytes / 1e6).toFixed(1)} MB, average ${file.avgEventBytes} bytes per event`);
  const file4x = memoryCheck ? await ensureEventsFile({ events: events * 4, log }) : undefined;

  const args = (f: { path: string; events: number }) => ['--file', f.path, '--events', String(f.events)];
  log('native: chdb INSERT ... SELECT * FROM file(JSONEachRow)');
  const native = await runBenchChild<NativeResult>('bench/ingest/native.ts', args(file), join(OUT_DIR, `ingest-${stamp}-native.log`));
  checkRows('native', native.rows, events);
  log(`native: ${native.eventsPerSecond} events/s`);
  log('keywatch: ingest() into a fresh embedded store');
  const keywatch = await runBenchChild<KeywatchResult>('bench/ingest/keywatch.ts', args(file), join(OUT_DIR, `ingest-${stamp}-keywatch.log`));
  checkRows('keywatch', keywatch.rows, events);
  log(`keywatch: ${keywatch.eventsPerSecond} events/s, peak RSS ${keywatch.peakRssMb} MB, store time ${JSON.stringify(keywatch.storeSeconds ?? {})}`);
  let keywatch4x: KeywatchResult | undefined;
  if (file4x) {
    log(`keywatch: ${file4x.events} events for the memory check`);
    keywatch4x = await runBenchChild<KeywatchResult>('bench/ingest/keywatch.ts', args(file4x), join(OUT_DIR, `ingest-${stamp}-keywatch-4x.log`));
    checkRows('keywatch (4x)', keywatch4x.rows, file4x.events);
    log(`keywatch 4x: ${keywatch4x.eventsPerSecond} events/s, peak RSS ${keywatch4x.peakRssMb} MB`);
  }

  const chdbPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'chdb', 'package.json'), 'utf8')) as { version: string };
  const result = {
    bench: 'ingest',
    events,
    avgEventBytes: file.avgEventBytes,
    nativeEventsPerSecond: native.eventsPerSecond,
    keywatchEventsPerSecond: keywatch.eventsPerSecond,
    ratio: Math.round((keywatch.eventsPerSecond / native.eventsPerSecond) * 1000) / 1000,
    target: TARGET_RATIO,
    peakRssMb: keywatch.peakRssMb,
    peakRssMb4x: keywatch4x?.peakRssMb ?? null,
    machine: { cpus: cpus().length, loadAvg, node: process.version, chdb: chdbPackage.version, clickhouse: native.clickhouse ?? null },
    at: at.toISOString(),
  };
  const line = JSON.stringify(result);
  writeFileSync(join(OUT_DIR, `ingest-${stamp}.json`), `${line}\n`);
  process.stdout.write(`${line}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:ingest: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
