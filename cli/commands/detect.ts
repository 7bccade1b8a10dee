import { appendFileSync } from 'node:fs';
import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { runDetectors } from '../../detectors/engine.ts';
import { closeDestinations, destinationsFromConfig, enqueueAndDeliver, type DeliverySummary } from '../../detectors/outputs/deliver.ts';
import { alertsToJsonl } from '../../detectors/outputs/jsonl.ts';
import { DETECTORS } from '../../detectors/registry.ts';
import { withStore, type GlobalOptions } from '../context.ts';

/** `2026-03-02T08:00:00Z`, `2026-03-02`, or a span back from now: `90m`, `24h`, `7d`. */
export function parseWhen(s: string, now: Date, flag: string): Date {
  const rel = /^(\d+)([mhd])$/.exec(s);
  if (rel) return new Date(now.getTime() - Number(rel[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd']);
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
  if (Number.isNaN(t)) throw new KeywatchError('USAGE', `${flag} must be an ISO time (2026-03-02T08:00:00Z), a date, or a span such as 24h or 7d, not "${s}"`);
  return new Date(t);
}

export function detectCommand(globals: () => GlobalOptions): Command {
  return new Command('detect')
    .description('run the detectors over the store and write their alerts to the alerts table (and JSONL)')
    .option('--since <when>', 'examine events that happened since then (ISO time, date, or 24h / 7d)')
    .option('--from <when>', 'examine events that happened from then (with --to)')
    .option('--to <when>', 'up to then (default now)')
    .option('--only <ids>', `comma-separated detector ids (${DETECTORS.map((d) => d.id).join(', ')})`)
    .option('--jsonl <file>', 'also append open alerts as JSON lines to FILE (- for stdout)')
    .option('--json', 'print the run summary as JSON')
    .option('--no-deliver', 'put open alerts in the outbox for the destinations in config `alerts`, but do not send them now')
    .option('--deliver-wait <seconds>', 'keep retrying failed sends that come due within this many seconds', '15')
    .action(async (opts: { since?: string; from?: string; to?: string; only?: string; jsonl?: string; json?: boolean; deliver: boolean; deliverWait: string }) => {
      const now = systemClock.now();
      if (opts.since && opts.from) throw new KeywatchError('USAGE', 'give --since or --from/--to, not both');
      let range: { from: Date; to: Date } | undefined;
      if (opts.since || opts.from || opts.to) {
        const from = opts.since ? parseWhen(opts.since, now, '--since') : opts.from ? parseWhen(opts.from, now, '--from') : undefined;
        if (!from) throw new KeywatchError('USAGE', '--to needs --from');
        const to = opts.to ? parseWhen(opts.to, now, '--to') : now;
        if (to <= from) throw new KeywatchError('USAGE', '--to must be after --from');
        range = { from, to };
      }
      const only = opts.only?.split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = only?.filter((id) => !DETECTORS.some((d) => d.id === id)) ?? [];
      if (unknown.length > 0) throw new KeywatchError('USAGE', `unknown detector ${unknown.join(', ')}; known: ${DETECTORS.map((d) => d.id).join(', ')}`);
      const waitSeconds = Number(opts.deliverWait);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new KeywatchError('USAGE', `--deliver-wait must be a number of seconds, not "${opts.deliverWait}"`);
      const logger = createLogger();
      const { result, enqueued, delivery } = await withStore(globals(), async (store, config) => {
        // Built first, so a destination that is misconfigured fails the run before it detects anything.
        const destinations = destinationsFromConfig(config, { env: process.env, clock: systemClock, logger });
        try {
          const result = await runDetectors({ store, now, config: config.detect, tenantAccounts: Object.keys(config.tenants), ...(range ? { range } : {}), ...(only ? { only } : {}) });
          if (destinations.length === 0) return { result, enqueued: undefined, delivery: undefined };
          const sent = await enqueueAndDeliver({ store, destinations, clock: systemClock, lookbackHours: config.alerts.enqueueLookbackHours, deliver: opts.deliver, maxWaitMs: waitSeconds * 1000, logger });
          return { result, enqueued: sent.enqueued, delivery: sent.delivery };
        } finally {
          await closeDestinations(destinations, logger);
        }
      });
      const jsonl = alertsToJsonl(result.alerts);
      if (opts.jsonl === '-') process.stdout.write(jsonl);
      else if (opts.jsonl) appendFileSync(opts.jsonl, jsonl);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            runs: result.runs,
            alerts: result.alerts.filter((a) => a.status === 'open').length,
            suppressed: result.alerts.filter((a) => a.status === 'suppressed').length,
            ...(enqueued ? { outbox: { enqueued, ...(delivery ? { delivery } : {}) } } : {}),
          }) + '\n',
        );
        return;
      }
      if (opts.jsonl === '-') return;
      const lines = result.runs.map((r) => `${r.detector.padEnd(34)} ${r.status === 'ran' ? `${String(r.alerts).padStart(4)} alert(s)${r.suppressed ? `, ${r.suppressed} suppressed` : ''}` : 'waiting for history'}`);
      const open = result.alerts.filter((a) => a.status === 'open');
      process.stdout.write(
        [
          `${range ? `events from ${range.from.toISOString()} to ${range.to.toISOString()}` : 'events ingested since each detector\'s last run'}`,
          ...lines,
          ...(open.length ? ['', ...open.map((a) => `${a.severity.padEnd(8)} ${a.first_time} ${a.title}${a.principal ? ` by ${a.principal}` : ''} (${a.event_count} event(s), ${a.tenant})`)] : []),
          ...(enqueued ? ['', ...deliveryLines(enqueued, delivery)] : []),
        ].join('\n') + '\n',
      );
    });
}

/** One line per destination: what was enqueued and what sending came to. */
export function deliveryLines(enqueued: Record<string, number>, delivery: DeliverySummary | undefined): string[] {
  return Object.entries(enqueued).map(([id, n]) => {
    const d = delivery?.byDestination[id];
    const sent = d ? `, ${d.delivered} delivered, ${d.pending} waiting to retry${d.dead ? `, ${d.dead} given up` : ''}` : ' (not sent: --no-deliver)';
    return `alerts to ${id}: ${n} enqueued${sent}`;
  });
}
