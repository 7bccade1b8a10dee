import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { listAlerts, resolveAlerts } from '../../detectors/alert-feed.ts';
import { closeDestinations, destinationsFromConfig, enqueueAndDeliver } from '../../detectors/outputs/deliver.ts';
import { alertToJson } from '../../detectors/outputs/jsonl.ts';
import type { AlertRow } from '../../detectors/engine.ts';
import { withStore, type GlobalOptions } from '../context.ts';
import { parseWhen } from './detect.ts';

const STATUSES = ['open', 'resolved', 'suppressed', 'all'] as const;

export function alertsCommand(globals: () => GlobalOptions): Command {
  const alerts = new Command('alerts').description('the alert feed: list alerts and resolve the ones handled').exitOverride();

  alerts
    .command('list')
    .description('alerts, newest first')
    .option('--status <status>', `${STATUSES.join(', ')}`, 'open')
    .option('--detector <id>', 'only this detector (slo-burn-rate for SLO alerts)')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--since <when>', 'first evidence since then (ISO time, date, or 24h / 7d)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'one JSON object per line, as the JSONL output writes them')
    .action(async (opts: { status: string; detector?: string; tenant?: string; since?: string; limit: string; json?: boolean }) => {
      if (!(STATUSES as readonly string[]).includes(opts.status)) throw new KeywatchError('USAGE', `--status must be one of ${STATUSES.join(', ')}, not "${opts.status}"`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new KeywatchError('USAGE', `--limit must be a positive whole number, not "${opts.limit}"`);
      const since = opts.since ? parseWhen(opts.since, systemClock.now(), '--since') : undefined;
      await withStore(globals(), async (store) => {
        const rows = await listAlerts(store, { status: opts.status as (typeof STATUSES)[number], ...(opts.detector ? { detector: opts.detector } : {}), ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(since ? { since } : {}), limit });
        if (opts.json) {
          process.stdout.write(rows.map((r) => JSON.stringify(alertToJson(r as AlertRow)) + '\n').join(''));
          return;
        }
        if (rows.length === 0) {
          process.stdout.write(`no ${opts.status === 'all' ? '' : `${opts.status} `}alerts\n`);
          return;
        }
        process.stdout.write(
          rows.map((r) => `${r.alert_id}  ${r.first_time}  ${r.severity.padEnd(8)} ${r.status.padEnd(10)} ${r.detector.padEnd(32)} ${r.tenant.padEnd(10)} ${r.title}${r.principal ? ` by ${r.principal}` : ''}`).join('\n') + '\n',
        );
      });
    });

  alerts
    .command('resolve')
    .description('resolve alerts by id, and send the resolution to the configured outputs')
    .argument('<ids...>', 'alert ids (from keywatch alerts list)')
    .option('--note <text>', 'what was done, kept in the alert evidence')
    .option('--no-deliver', 'put the resolutions in the outbox, but do not send them now')
    .action(async (ids: string[], opts: { note?: string; deliver: boolean }) => {
      const now = systemClock.now();
      await withStore(globals(), async (store, config) => {
        const logger = createLogger();
        const destinations = destinationsFromConfig(config, { env: process.env, clock: systemClock, logger });
        try {
          const r = await resolveAlerts(store, ids, now, opts.note ?? '');
          const lines = [...r.resolved.map((a) => `resolved ${a.alert_id} (${a.detector}: ${a.title})`), ...r.alreadyResolved.map((id) => `already resolved: ${id}`)];
          if (destinations.length > 0 && r.resolved.length > 0) {
            const sent = await enqueueAndDeliver({ store, destinations, clock: systemClock, lookbackHours: config.alerts.enqueueLookbackHours, deliver: opts.deliver, maxWaitMs: 15_000, logger });
            for (const [id, n] of Object.entries(sent.enqueued)) lines.push(`resolutions to ${id}: ${n} enqueued${sent.delivery ? `, ${sent.delivery.byDestination[id]?.delivered ?? 0} delivered` : ''}`);
          }
          process.stdout.write(lines.join('\n') + '\n');
        } finally {
          await closeDestinations(destinations, logger);
        }
      });
    });
  return alerts;
}
