import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import type { Config } from '../../core/config.ts';
import { KeywatchError } from '../../core/errors.ts';
import { withDemoDetect } from '../../demo/config.ts';
import { DEMO_SOURCES } from '../../demo/sources/registry.ts';
import { runDetectors, type AlertRow } from '../../detectors/engine.ts';
import { DETECTORS } from '../../detectors/registry.ts';
import { alertMatches, baselineCounts, evaluate, formatEvaluation, type LabeledIncident } from '../../evaluate/evaluate.ts';
import { ingest } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { openStore } from '../../storage/open.ts';
import { configFrom, type GlobalOptions } from '../context.ts';

/**
 * Generates demo traffic (with or without incidents) into a temporary directory, ingests it into
 * a fresh temporary embedded store, runs every detector over the generated range and returns the
 * alerts. The store is closed before returning: one embedded data directory per process, so the
 * next run can open its own.
 */
async function detectOnDemo(base: Config, o: { start: Date; end: Date; days: number; seed: number; incidents: boolean; log: (s: string) => void }): Promise<AlertRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'keywatch-evaluate-'));
  try {
    const input = join(root, 'input');
    const tenants: Record<string, string> = {};
    for (const s of DEMO_SOURCES) {
      const sub = join(input, s.source);
      mkdirSync(sub, { recursive: true });
      const { records } = await s.write({ start: o.start, days: o.days, seed: o.seed, dir: sub, incidents: o.incidents });
      Object.assign(tenants, s.tenants);
      o.log(`  ${s.source.padEnd(16)} ${String(records).padStart(8)} records\n`);
    }
    // A fresh store of its own, never the user's: the user's detection settings (over the demo
    // estate's cryptoperiods and DR regions, demo/config.ts), not their data.
    const config: Config = { ...base, dataDir: join(root, 'store'), clickhouse: { ...base.clickhouse, url: undefined, cluster: undefined } };
    const store = await openStore(config);
    try {
      const allTenants = { ...tenants, ...config.tenants };
      const summary = await ingest(
        (function* () {
          for (const f of listInputs([input])) yield openInput(f);
        })(),
        { store, clock: systemClock, format: 'auto', tenants: allTenants, defaultTenant: config.defaultTenant, batchBytes: config.ingest.batchBytes, maxRecordBytes: config.ingest.maxRecordBytes },
      );
      o.log(`  ingested ${summary.inserted} events in ${summary.seconds.toFixed(1)} s; running ${DETECTORS.length} detectors\n`);
      const detected = await runDetectors({ store, now: systemClock.now(), config: withDemoDetect(config.detect), tenantAccounts: Object.keys(allTenants), range: { from: o.start, to: o.end } });
      for (const r of detected.runs) if (r.status !== 'ran') o.log(`  ${r.detector}: waiting for history (not run)\n`);
      return detected.alerts;
    } finally {
      await store.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const wholeNumber = (flag: string, v: string, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new KeywatchError('USAGE', `${flag} must be a whole number from ${min} to ${max}, not "${v}"`);
  return n;
};

export function evaluateCommand(globals: () => GlobalOptions): Command {
  return new Command('evaluate')
    .description('measure the detectors: precision and recall per detector on the demo incidents, and alerts on a clean baseline (uses temporary stores, never yours)')
    .option('--days <n>', 'days of demo traffic with incidents, the full UTC days before today (three weeks: the first-use detectors judge against 14 days of history)', '21')
    .option('--seed <n>', 'random seed of the generated traffic', '7')
    .option('--baseline-days <n>', 'days of clean traffic (no incidents) for the false-alarm baseline; 0 skips it', '30')
    .option('--json', 'print one JSON object instead of the table')
    .action(async (opts: { days: string; seed: string; baselineDays: string; json?: boolean }) => {
      const days = wholeNumber('--days', opts.days, 1, 400);
      const baselineDays = wholeNumber('--baseline-days', opts.baselineDays, 0, 400);
      const seed = wholeNumber('--seed', opts.seed, 0, 2 ** 31);
      const config = configFrom(globals());
      const log = (s: string) => (opts.json ? process.stderr : process.stdout).write(s);
      const today = new Date(Math.floor(systemClock.now().getTime() / 86_400_000) * 86_400_000);
      const ids = DETECTORS.map((d) => d.id);

      const start = new Date(today.getTime() - days * 86_400_000);
      log(`Demo set: ${days} days with incidents, seed ${seed}\n`);
      const alerts = await detectOnDemo(config, { start, end: today, days, seed, incidents: true, log });
      const incidents: LabeledIncident[] = DEMO_SOURCES.flatMap((s) => s.incidents({ start, days, seed }).map((i) => ({ ...i, source: s.source })));
      const result = evaluate(incidents, alerts, ids);

      let baseline: { days: number; counts: { detector: string; alerts: number }[]; alerts: AlertRow[] } | undefined;
      if (baselineDays > 0) {
        const bStart = new Date(today.getTime() - baselineDays * 86_400_000);
        log(`Clean baseline: ${baselineDays} days without incidents, seed ${seed}\n`);
        const bAlerts = await detectOnDemo(config, { start: bStart, end: today, days: baselineDays, seed, incidents: false, log });
        baseline = { days: baselineDays, counts: baselineCounts(bAlerts, ids), alerts: bAlerts.filter((a) => a.status === 'open') };
      }

      if (opts.json) {
        const summarize = (a: AlertRow) => ({ detector: a.detector, tenant: a.tenant, key_id: a.key_id, principal: a.principal, first_time: a.first_time, last_time: a.last_time, title: a.title });
        const unmatched = alerts.filter((a) => a.status === 'open' && !incidents.some((i) => alertMatches(a, i)));
        process.stdout.write(
          JSON.stringify({
            days,
            seed,
            range: { from: start.toISOString(), to: today.toISOString() },
            ...result,
            unmatchedAlerts: unmatched.map(summarize),
            baseline: baseline ? { days: baseline.days, alerts: baseline.counts, total: baseline.alerts.length, examples: baseline.alerts.slice(0, 50).map(summarize) } : null,
          }) + '\n',
        );
      } else {
        process.stdout.write(`\nDetectors on the demo set (${start.toISOString().slice(0, 10)} to ${today.toISOString().slice(0, 10)}, seed ${seed})\n`);
        process.stdout.write(formatEvaluation(result, baseline));
      }
    });
}
