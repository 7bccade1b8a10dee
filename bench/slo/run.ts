import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runBenchChild } from '../child.ts';
import { WINDOW_DAYS } from '../detect/generate.ts';
import { ensureDetectStore } from '../detect/store.ts';
import { OUT_DIR, REPO_ROOT } from '../ingest/paths.ts';

/**
 * `npm run bench:slo -- [--events N] [--regenerate]`: evaluates 50 SLOs of about 1,000 groups each
 * over a 30-day window of N events (default 20,000,000), once. The store is bench:detect's (made by
 * bench/detect/generate.ts and cached in bench/out/detect-store-<N>, shared by both benches); the
 * evaluation runs in a child process of its own (evaluate.ts). Prints one JSON line and writes it
 * to bench/out/slo-<timestamp>.json. Exits 0 whether or not the target is met; non-zero when a
 * child fails.
 */

const DEFAULT_EVENTS = 20_000_000;
const TARGET = { seconds: 10 };
const log = (msg: string) => process.stderr.write(`bench:slo: ${msg}\n`);

interface SloChildResult {
  events: number;
  slos: number;
  groups: number;
  groupsPerSlo: { min: number; mean: number; max: number };
  seconds: number;
  peakRssMb: number;
  statusRows: number;
  alertsOpened: number;
  timings: { countSeconds: number; judgeSeconds: number; writeSeconds: number };
  states: Record<string, number>;
  clickhouse: string | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, regenerate: { type: 'boolean', default: false } }, strict: true });
  const events = values.events === undefined ? DEFAULT_EVENTS : Number(values.events);
  if (!Number.isInteger(events) || events <= 0) throw new Error(`--events must be a positive integer, got ${values.events}`);
  mkdirSync(OUT_DIR, { recursive: true });
  const at = new Date();
  const loadAvg = loadavg().map((n) => Math.round(n * 100) / 100);
  const stamp = at.toISOString().replace(/[:.]/g, '-');
  const { storeDir, generateSeconds } = await ensureDetectStore({ events, regenerate: values.regenerate === true, logPrefix: join(OUT_DIR, `slo-${stamp}`), log });
  log(`evaluating 50 SLOs over the last ${WINDOW_DAYS} days`);
  const r = await runBenchChild<SloChildResult>('bench/slo/evaluate.ts', ['--dir', storeDir], join(OUT_DIR, `slo-${stamp}-evaluate.log`));
  if (r.events !== events) throw new Error(`the window holds ${r.events} events, expected ${events}`);
  const chdbPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'chdb', 'package.json'), 'utf8')) as { version: string };
  const result = {
    bench: 'slo',
    events: r.events,
    windowDays: WINDOW_DAYS,
    slos: r.slos,
    groups: r.groups,
    groupsPerSlo: r.groupsPerSlo,
    seconds: r.seconds,
    peakRssMb: r.peakRssMb,
    statusRows: r.statusRows,
    alertsOpened: r.alertsOpened,
    timings: r.timings,
    states: r.states,
    target: TARGET,
    meetsTarget: r.seconds <= TARGET.seconds,
    generateSeconds,
    machine: { cpus: cpus().length, loadAvg, node: process.version, chdb: chdbPackage.version, clickhouse: r.clickhouse },
    at: at.toISOString(),
  };
  const line = JSON.stringify(result);
  writeFileSync(join(OUT_DIR, `slo-${stamp}.json`), `${line}\n`);
  process.stdout.write(`${line}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:slo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
