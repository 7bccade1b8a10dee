import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { withDemoDetect } from '../../demo/config.ts';
import { DEMO_SOURCES } from '../../demo/sources/registry.ts';
import { coverageWindow, refreshCoverageGaps } from '../../ingest/coverage-gaps.ts';
import { runDetectors } from '../../detectors/engine.ts';
import { replaySlos } from '../../slo/engine.ts';
import { EXAMPLES_DIR, loadSpecs } from '../../slo/spec.ts';
import { ingest } from '../../ingest/pipeline.ts';
import { listInputs, openInput } from '../../ingest/transports/file.ts';
import { configFrom, withStore, type GlobalOptions } from '../context.ts';
import type { Config } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { listAlerts } from '../../detectors/alert-feed.ts';
import { startLiveTraffic } from '../../demo/live-traffic.ts';
import { isLoopback, parseListen } from '../../ingest/transports/http.ts';
import { localApiPaths, openRemoteStore } from '../../storage/remote-store.ts';
import { runService } from './serve.ts';
import { formatSummary } from './ingest.ts';
import { DEMO_QUERIES } from '../../demo/queries.ts';

export function demoCommand(globals: () => GlobalOptions): Command {
  return new Command('demo')
    .description('generate realistic multi-tenant traffic for every log source with injected incidents, ingest it and show what is there')
    .option('--days <n>', 'days of traffic, the full UTC days before today (three weeks: the first-use detectors judge against 14 days of history)', '21')
    .option('--seed <n>', 'random seed (the same seed gives the same traffic)', '7')
    .option('--keep-input <dir>', 'write the generated log files here and keep them')
    .option('--serve', 'then run keywatch serve on the same store, feed it live traffic with a planted incident, until Ctrl-C')
    .action(async (opts: { days: string; seed: string; keepInput?: string; serve?: boolean }) => {
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days < 1 || days > 400) throw new KeywatchError('USAGE', `--days must be a whole number from 1 to 400, not "${opts.days}"`);
      // The N full UTC days before today: the same traffic all day long, so a second run the same
      // day finds every event already stored.
      const today = Math.floor(systemClock.now().getTime() / 86_400_000) * 86_400_000;
      const start = new Date(today - days * 86_400_000);
      const seed = Number(opts.seed);
      const dir = opts.keepInput ?? mkdtempSync(join(tmpdir(), 'keywatch-demo-'));
      try {
        process.stdout.write(`Generating ${days} days of key-log traffic for 3 tenants from ${DEMO_SOURCES.length} sources...\n`);
        const tenants: Record<string, string> = {};
        for (const s of DEMO_SOURCES) {
          const sub = join(dir, s.source);
          mkdirSync(sub, { recursive: true });
          const { files, records } = await s.write({ start, days, seed, dir: sub, incidents: true });
          Object.assign(tenants, s.tenants);
          process.stdout.write(`  ${s.source.padEnd(16)} ${String(records).padStart(8)} records in ${files.length} file(s)\n`);
        }
        process.stdout.write(`\nIngesting ${dir} with --format auto...\n`);
        await withStore(globals(), async (store, config) => {
          const summary = await ingest(
            (function* () {
              for (const f of listInputs([dir])) yield openInput(f);
            })(),
            {
              store,
              clock: systemClock,
              format: 'auto',
              tenants: { ...tenants, ...config.tenants },
              defaultTenant: config.defaultTenant,
              batchBytes: config.ingest.batchBytes,
              maxRecordBytes: config.ingest.maxRecordBytes,
            },
          );
          const now = systemClock.now();
          const gaps = await refreshCoverageGaps(store, coverageWindow(now, config.coverage.windowDays), now, config.clickhouse.cluster);
          process.stdout.write('Ingest summary\n' + formatSummary(summary).replace(/^/gm, '  ') + '\n');
          process.stdout.write(`  coverage     ${gaps.length} key(s) with admin activity but no logged use in the last ${config.coverage.windowDays} days\n\n`);
          // The detectors over the whole generated span, as `keywatch detect --from … --to …` would,
          // with the demo estate's cryptoperiods and DR regions (demo/config.ts) under the user's settings.
          const detected = await runDetectors({ store, now, config: withDemoDetect(config.detect), tenantAccounts: Object.keys({ ...tenants, ...config.tenants }), range: { from: start, to: new Date(today) } });
          const open = detected.alerts.filter((a) => a.status === 'open');
          process.stdout.write(`Detectors: ${open.length} alert(s) from ${detected.runs.filter((r) => r.alerts > 0).length} of ${detected.runs.length} detectors (keywatch detect --from ${start.toISOString().slice(0, 10)} --to ${new Date(today).toISOString().slice(0, 10)})\n`);
          for (const r of detected.runs) process.stdout.write(`  ${r.detector.padEnd(34)} ${r.status === 'ran' ? String(r.alerts).padStart(4) : 'waiting for history'}\n`);
          process.stdout.write('\n');
          // The SLOs (config slo.specs, else the shipped examples) replayed over the generated span
          // every 5 minutes, as a scheduler would have evaluated them: pages and tickets open and
          // resolve at the steps they would have, and slo_status gets an hourly history.
          const specs = loadSpecs(config.slo.specs.length > 0 ? config.slo.specs : [EXAMPLES_DIR]);
          const replay = await replaySlos({ store, specs, from: start, to: new Date(today), stepMinutes: 5, statusEveryMinutes: 60 });
          const opened = replay.transitions.filter((t) => t.change === 'opened');
          process.stdout.write(`SLOs: ${specs.length} evaluated every 5 minutes over the span (keywatch slo evaluate --from ${start.toISOString().slice(0, 10)} --to ${new Date(today).toISOString().slice(0, 10)} --step 5); ${opened.filter((t) => t.action === 'page').length} page(s), ${opened.filter((t) => t.action === 'ticket').length} ticket(s)\n`);
          for (const t of opened.filter((x) => x.action === 'page')) process.stdout.write(`  page    ${t.at}  ${t.slo} (${[t.group.tenant, t.group.source, t.group.region, t.group.key_id].filter(Boolean).join(' / ') || 'all'})\n`);
          process.stdout.write('  keywatch slo status shows every SLO\'s budget and burn rates.\n\n');
          for (const q of DEMO_QUERIES) {
            process.stdout.write(`${q.title}\n  $ keywatch sql "${q.sql.replace(/\s+/g, ' ').trim()}"\n`);
            process.stdout.write((await store.queryText(q.sql, 'PrettyCompactMonoBlock')).replace(/^/gm, '  ') + '\n');
          }
          process.stdout.write('Injected incidents (the alerts table and the queries above show them):\n');
          for (const s of DEMO_SOURCES) for (const i of s.incidents({ start, days, seed })) process.stdout.write(`  ${i.at}  ${s.source}/${i.id}: ${i.what}\n`);
          const info = await store.info();
          process.stdout.write(`\nThe events are in ${info.backend === 'embedded' ? `the embedded store at ${info.location}` : info.location}. Try:\n  keywatch status\n  keywatch sql "SELECT source, operation, count() FROM key_events GROUP BY source, operation ORDER BY 3 DESC"\n  keywatch verify-chain\n`);
        }, { remote: { refuse: 'stop it first, or give the demo its own --data-dir' } });
      } finally {
        if (!opts.keepInput) rmSync(dir, { recursive: true, force: true });
      }
      if (opts.serve) await serveDemo(globals(), opts.seed === undefined ? 7 : Number(opts.seed));
    });
}

/**
 * `keywatch demo --serve`: the service on the demo's store, with a loopback collector without
 * tokens, the demo estate's tenants and detector settings, and live traffic with a planted incident.
 */
async function serveDemo(g: GlobalOptions, seed: number): Promise<void> {
  const base = configFrom(g);
  const tenants: Record<string, string> = {};
  for (const s of DEMO_SOURCES) Object.assign(tenants, s.tenants);
  const config: Config = {
    ...base,
    tenants: { ...tenants, ...base.tenants },
    detect: withDemoDetect(base.detect),
    service: { ...base.service, collector: { enabled: true, insecureNoAuth: true } },
  };
  const { host } = parseListen(config.http.listen);
  if (!isLoopback(host)) throw new KeywatchError('USAGE', `keywatch demo --serve runs its collector without tokens, so only on a loopback address; http.listen is ${config.http.listen}`);
  // The service's own log lines would drown the story; KEYWATCH_LOG_LEVEL=info shows them.
  const logger = createLogger(process.env.KEYWATCH_LOG_LEVEL ?? 'warn');
  const out = (s: string) => process.stdout.write(`${s}\n`);
  await runService({
    config,
    logger,
    onStarted: async (svc) => {
      const data = config.clickhouse.url ? '' : ` --data-dir ${config.dataDir}`;
      out('');
      out(`keywatch serve is running on the demo store (pid ${process.pid}):`);
      out(`  HTTP collector   ${svc.addresses.http ?? '-'}/v1/ingest/{format} (loopback, no token)`);
      out(`  metrics          ${svc.addresses.ops}/metrics    readiness ${svc.addresses.ops}/readyz`);
      if (svc.addresses.localApi) out(`  local API        ${svc.addresses.localApi} (other keywatch commands use it by themselves)`);
      out('Live traffic: the demo estate\'s CloudTrail KMS calls, 5 every second; an incident is planted in 5 s.');
      out('From another terminal:');
      out(`  keywatch${data} alerts list`);
      out(`  keywatch${data} status`);
      out(`  curl -s ${svc.addresses.ops}/metrics | grep ^keywatch_events`);
      out('Stop with Ctrl-C.');
      let planted: { at: number; arn: string } | undefined;
      const traffic = startLiveTraffic({
        url: svc.addresses.http as string,
        seed,
        onIncident: (i) => {
          planted = { at: Date.now(), arn: i.keyArn };
          out(`${i.at}  planted: ${i.what}`);
        },
        onError: (e) => logger.warn({ err: (e as Error).message }, 'demo traffic push failed'),
      });
      // Tells when the planted incident reached the alert feed, as `keywatch alerts list` would see it.
      const watcher = svc.addresses.localApi ? await openRemoteStore(localApiPaths(config.dataDir)) : undefined;
      let reported = false;
      const watch = setInterval(() => {
        if (!planted || reported || !watcher) return;
        const p = planted;
        void listAlerts(watcher, { detector: 'key-disabled-or-deleted', since: new Date(p.at - 60_000), limit: 20 })
          .then((rows) => {
            const hit = rows.find((r) => r.key_id === p.arn || r.title.includes(p.arn));
            if (!hit || reported) return;
            reported = true;
            out(`${new Date().toISOString()}  alert ${hit.alert_id} (${hit.severity}) "${hit.title}" in the feed ${((Date.now() - p.at) / 1000).toFixed(1)} s after the incident`);
          })
          .catch(() => undefined);
      }, 250);
      return async () => {
        clearInterval(watch);
        await traffic.stop();
        out(`stopping: ${traffic.pushed()} records pushed`);
      };
    },
  });
}
