import { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { KeywatchError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { closeDestinations, destinationsFromConfig, enqueueAndDeliver } from '../../detectors/outputs/deliver.ts';
import { evaluateSlos, replaySlos, type GroupResult } from '../../slo/engine.ts';
import { EXAMPLES_DIR, loadSpecs, type SloSpec } from '../../slo/spec.ts';
import { loadWindowTables } from '../../slo/windows.ts';
import type { Config } from '../../core/config.ts';
import type { Store } from '../../storage/store.ts';
import { withStore, type GlobalOptions } from '../context.ts';
import { deliveryLines, parseWhen } from './detect.ts';

/** --spec files, else config `slo.specs`, else the shipped examples. */
function specsFor(opts: { spec?: string[] }, config: Config): { specs: SloSpec[]; from: string } {
  if (opts.spec && opts.spec.length > 0) return { specs: loadSpecs(opts.spec), from: opts.spec.join(', ') };
  if (config.slo.specs.length > 0) return { specs: loadSpecs(config.slo.specs), from: 'config slo.specs' };
  return { specs: loadSpecs([EXAMPLES_DIR]), from: 'the shipped examples (slo/examples/)' };
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(x < 0 ? 0 : 2)}%`);
const burn = (x: number | null) => (x === null ? '-' : Number.isFinite(x) ? x.toFixed(2) : 'inf');

function groupLabel(g: GroupResult['group']): string {
  return [g.tenant, g.source, g.region, g.key_id].filter(Boolean).join(' / ') || '(all)';
}

/** Enqueues and sends alerts detected since `earliest` (the first evaluated instant) or the configured look-back, whichever is older. */
async function deliver(store: Store, config: Config, send: boolean, waitSeconds: number, earliest: Date) {
  const logger = createLogger();
  const destinations = destinationsFromConfig(config, { env: process.env, clock: systemClock, logger });
  if (destinations.length === 0) return undefined;
  try {
    const lookbackHours = Math.max(config.alerts.enqueueLookbackHours, (systemClock.now().getTime() - earliest.getTime()) / 3_600_000 + 1);
    return await enqueueAndDeliver({ store, destinations, clock: systemClock, lookbackHours, deliver: send, maxWaitMs: waitSeconds * 1000, logger });
  } finally {
    await closeDestinations(destinations, logger);
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function sloCommand(globals: () => GlobalOptions): Command {
  const slo = new Command('slo').description('service level objectives over key operations: burn-rate alerts and error budgets').exitOverride();

  slo
    .command('evaluate')
    .description('evaluate the SLOs now (or --at T, or every --step over --from/--to), write slo_status and open or resolve burn-rate alerts')
    .option('--at <when>', 'evaluate at this instant instead of now (ISO time, date, or 24h / 7d back)')
    .option('--from <when>', 'replay: evaluate at every step from then (with --to)')
    .option('--to <when>', 'replay: up to then (default now)')
    .option('--step <minutes>', 'replay: minutes between evaluations', '1')
    .option('--spec <file>', 'SLO spec file or directory (repeatable; default config slo.specs, else the shipped examples)', collect)
    .option('--json', 'print the results as JSON')
    .option('--no-deliver', 'put alerts in the outbox for the destinations in config `alerts`, but do not send them now')
    .option('--deliver-wait <seconds>', 'keep retrying failed sends that come due within this many seconds', '15')
    .action(async (opts: { at?: string; from?: string; to?: string; step: string; spec?: string[]; json?: boolean; deliver: boolean; deliverWait: string }) => {
      const now = systemClock.now();
      if (opts.at && (opts.from || opts.to)) throw new KeywatchError('USAGE', 'give --at or --from/--to, not both');
      if (opts.to && !opts.from) throw new KeywatchError('USAGE', '--to needs --from');
      const step = Number(opts.step);
      if (!Number.isInteger(step) || step < 1) throw new KeywatchError('USAGE', `--step must be a whole number of minutes, not "${opts.step}"`);
      const waitSeconds = Number(opts.deliverWait);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new KeywatchError('USAGE', `--deliver-wait must be a number of seconds, not "${opts.deliverWait}"`);
      await withStore(globals(), async (store, config) => {
        const { specs, from: specSource } = specsFor(opts, config);
        const tables = loadWindowTables();
        const lines: string[] = [];
        let results: GroupResult[];
        let transitions: { at: string; slo: string; group: GroupResult['group']; action: string; change: string; alert_id: string }[];
        let header: string;
        let earliest: Date;
        if (opts.from) {
          const minute = (d: Date) => new Date(Math.floor(d.getTime() / 60_000) * 60_000);
          const from = minute(parseWhen(opts.from, now, '--from'));
          const to = minute(opts.to ? parseWhen(opts.to, now, '--to') : now);
          if (to <= from) throw new KeywatchError('USAGE', '--to must be after --from');
          const r = await replaySlos({ store, specs, from, to, stepMinutes: step, tables });
          earliest = from;
          results = r.final;
          transitions = r.transitions;
          header = `${specs.length} SLO(s) from ${specSource}, replayed at ${r.steps} step(s) of ${step} min from ${from.toISOString()} to ${to.toISOString()}`;
        } else {
          const at = opts.at ? parseWhen(opts.at, now, '--at') : now;
          const r = await evaluateSlos({ store, specs, at, tables });
          earliest = at;
          results = r.results;
          transitions = r.transitions.map((t) => ({ ...t, at: r.at }));
          header = `${specs.length} SLO(s) from ${specSource}, evaluated at ${r.at}`;
        }
        const sent = await deliver(store, config, opts.deliver, waitSeconds, earliest);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ results, transitions, ...(sent ? { outbox: sent } : {}) }) + '\n');
          return;
        }
        lines.push(header, '');
        for (const spec of specs) {
          const rs = results.filter((r) => r.slo === spec.metadata.name);
          const counts = new Map<string, number>();
          for (const r of rs) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
          const worst = [...rs].sort((a, b) => (a.budgetRemaining ?? 2) - (b.budgetRemaining ?? 2))[0];
          lines.push(
            `${spec.metadata.name.padEnd(24)} objective ${String(spec.spec.objectives[0]?.target).padEnd(7)} ${rs.length} group(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ') || 'none'}` +
              (worst ? `; lowest budget ${pct(worst.budgetRemaining)} (${groupLabel(worst.group)})` : ''),
          );
          for (const r of rs.filter((x) => x.state === 'page' || x.state === 'ticket')) {
            const fired = r.policies.filter((p) => p.state === 'firing').map((p) => `${p.policy} ${burn(p.burnLong)}/${burn(p.burnShort)} > ${p.factor}`);
            lines.push(`  ${r.state.toUpperCase().padEnd(6)} ${groupLabel(r.group)}: ${fired.join('; ')}`);
          }
        }
        if (transitions.length > 0) {
          lines.push('', 'alerts:');
          for (const t of transitions) lines.push(`  ${t.at} ${t.change.padEnd(8)} ${t.action.padEnd(6)} ${t.slo} (${groupLabel(t.group)})`);
        }
        if (sent) lines.push('', ...deliveryLines(sent.enqueued, sent.delivery));
        process.stdout.write(lines.join('\n') + '\n');
      });
    });

  slo
    .command('status')
    .description('the latest evaluation of each SLO and group: state, remaining error budget, burn rates')
    .option('--slo <name>', 'only this SLO')
    .option('--json', 'print the rows as JSON')
    .action(async (opts: { slo?: string; json?: boolean }) => {
      await withStore(globals(), async (store) => {
        const rows = await store.query<{ slo: string; tenant: string; source: string; region: string; key_id: string; evaluated: string; state: string; objective: number; period: string; budget: number | null; firing: string[]; burns: [string, number | null][] }>(
          `SELECT slo, tenant, source, region, key_id, toString(evaluated_time) AS evaluated, state, objective, period, budget_remaining AS budget, firing,
                  -- windows from the longest to the shortest (the keys are labels such as 30d, 6h, 5m)
                  arraySort(x -> -(toUInt64OrZero(substring(x.1, 1, length(x.1) - 1)) * multiIf(endsWith(x.1, 'd'), 86400, endsWith(x.1, 'h'), 3600, 60)),
                            arrayZip(mapKeys(burn_rate), mapValues(burn_rate))) AS burns
           FROM slo_status FINAL
           WHERE (slo, tenant, source, region, key_id, evaluated_time) IN
                 (SELECT slo, tenant, source, region, key_id, max(evaluated_time) FROM slo_status GROUP BY slo, tenant, source, region, key_id)
             AND ({slo:String} = '' OR slo = {slo:String})
           ORDER BY slo, state = 'page' DESC, state = 'ticket' DESC, budget, tenant, source, region, key_id`,
          { slo: opts.slo ?? '' },
        );
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows.map((r) => ({ ...r, burns: Object.fromEntries(r.burns) }))) + '\n');
          return;
        }
        if (rows.length === 0) {
          process.stdout.write(`no SLO has been evaluated${opts.slo ? ` under the name ${opts.slo}` : ''} yet: run keywatch slo evaluate\n`);
          return;
        }
        const lines = rows.map((r) => {
          const b = r.burns.map(([w, x]) => `${w} ${burn(x)}`).join('  ');
          return `${r.slo.padEnd(24)} ${[r.tenant, r.source, r.region, r.key_id].filter(Boolean).join(' / ').padEnd(40) || '(all)'.padEnd(40)} ${r.state.padEnd(11)} budget ${pct(r.budget).padStart(8)}  at ${r.evaluated}  burn: ${b}`;
        });
        process.stdout.write(lines.join('\n') + '\n');
      });
    });
  return slo;
}
