import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runBenchChild } from '../child.ts';
import { OUT_DIR, REPO_ROOT } from '../ingest/paths.ts';
import { KEYS, WINDOW_DAYS } from './generate.ts';
import { ensureDetectStore } from './store.ts';

/**
 * `npm run bench:detect -- [--events N] [--regenerate]`: one full pass of every detector over a
 * 30-day window of N events (default 20,000,000) on 5,000 keys. The store is made once by
 * generate.ts (inside ClickHouse, not through the ingest pipeline) and cached in
 * bench/out/detect-store-<N>; the pass runs in a child process of its own (detect.ts).
 * Prints one JSON line and writes it to bench/out/detect-<timestamp>.json. Exits 0 whether or not
 * the target is met; non-zero when a child fails.
 */

const DEFAULT_EVENTS = 20_000_000;
const TARGET = { seconds: 60, rssMb: 1024 };

interface DetectChildResult {
  events: number;
  storeEvents: number;
  keys: number;
  seconds: number;
  peakRssMb: number;
  alerts: number;
  clickhouse: string | null;
  perDetector: Record<string, { seconds: number; alerts: number; findings: number; status: string }>;
}

const log = (msg: string) => process.stderr.write(`bench:detect: ${msg}\n`);


async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, regenerate: { type: 'boolean', default: false } }, strict: true });
  const events = values.events === undefined ? DEFAULT_EVENTS : Number(values.events);
  if (!Number.isInteger(events) || events <= 0) throw new Error(`--events must be a positive integer, got ${values.events}`);
  mkdirSync(OUT_DIR, { recursive: true });
  const at = new Date();
  const loadAvg = loadavg().map((n) => Math.round(n * 100) / 100);
  const stamp = at.toISOString().replace(/[:.]/g, '-');

  const { storeDir, generateSeconds } = await ensureDetectStore({ events, regenerate: values.regenerate === true, logPrefix: join(OUT_DIR, `detect-${stamp}`), log });

  log(`running every detector over the last ${WINDOW_DAYS} days`);
  const d = await runBenchChild<DetectChildResult>('bench/detect/detect.ts', ['--dir', storeDir], join(OUT_DIR, `detect-${stamp}-detect.log`));
  if (d.events !== events) throw new Error(`the window holds ${d.events} events, expected ${events}`);
  if (d.keys !== KEYS) throw new Error(`the window holds ${d.keys} keys, expected ${KEYS}`);

  const perDetector: Record<string, { seconds: number; alerts: number }> = {};
  for (const [id, r] of Object.entries(d.perDetector)) perDetector[id] = { seconds: r.seconds, alerts: r.alerts };
  const slowest = Object.entries(perDetector)
    .sort((a, b) => b[1].seconds - a[1].seconds)
    .slice(0, 5)
    .map(([id]) => id);
  const waiting = Object.entries(d.perDetector).filter(([, r]) => r.status !== 'ran').map(([id]) => id);
  const chdbPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'chdb', 'package.json'), 'utf8')) as { version: string };
  const result = {
    bench: 'detect',
    events: d.events,
    storeEvents: d.storeEvents,
    keys: d.keys,
    windowDays: WINDOW_DAYS,
    seconds: d.seconds,
    peakRssMb: d.peakRssMb,
    alerts: d.alerts,
    perDetector,
    slowest,
    waitingForHistory: waiting,
    target: TARGET,
    meetsTarget: d.seconds <= TARGET.seconds && d.peakRssMb <= TARGET.rssMb,
    generateSeconds,
    machine: { cpus: cpus().length, loadAvg, node: process.version, chdb: chdbPackage.version, clickhouse: d.clickhouse },
    at: at.toISOString(),
  };
  const line = JSON.stringify(result);
  writeFileSync(join(OUT_DIR, `detect-${stamp}.json`), `${line}\n`);
  process.stdout.write(`${line}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:detect: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
