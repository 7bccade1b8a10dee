import { appendFileSync } from 'node:fs';
import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { runDetectors } from '../../detectors/engine.ts';
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
    .action(async (opts: { since?: string; from?: string; to?: string; only?: string; jsonl?: string; json?: boolean }) => {
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
      const result = await withStore(globals(), (store, config) =>
        runDetectors({ store, now, config: config.detect, tenantAccounts: Object.keys(config.tenants), ...(range ? { range } : {}), ...(only ? { only } : {}) }),
      );
      const jsonl = alertsToJsonl(result.alerts);
      if (opts.jsonl === '-') process.stdout.write(jsonl);
      else if (opts.jsonl) appendFileSync(opts.jsonl, jsonl);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ runs: result.runs, alerts: result.alerts.filter((a) => a.status === 'open').length, suppressed: result.alerts.filter((a) => a.status === 'suppressed').length }) + '\n');
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
        ].join('\n') + '\n',
      );
    });
}
