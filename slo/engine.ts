import { createHash } from 'node:crypto';
import type { AlertRecord } from '../core/alert.ts';
import type { Store } from '../storage/store.ts';
import { budgetRemaining, burnRate, errorRatio, evaluatePolicy, sloState, type Counts, type PolicyResult, type SloState } from './burn-rate.ts';
import { durationMs } from './duration.ts';
import { objectiveOf, periodOf, type SloSpec } from './spec.ts';
import { sliQuery, type WindowSpec } from './sql.ts';
import { loadWindowTables, windowTableFor, type BurnRatePolicy, type WindowTable } from './windows.ts';

/** The alert feed's detector name for SLO burn-rate alerts. */
export const SLO_DETECTOR = 'slo-burn-rate';

const ch = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

export interface GroupKey {
  tenant: string;
  source: string;
  region: string;
  key_id: string;
}

export interface WindowResult extends Counts {
  window: string;
  errorRatio: number | null;
  burnRate: number | null;
}

export interface GroupResult {
  slo: string;
  group: GroupKey;
  state: SloState;
  budgetRemaining: number | null;
  windows: WindowResult[];
  policies: PolicyResult[];
}

export interface SloTransition {
  slo: string;
  group: GroupKey;
  action: 'page' | 'ticket';
  change: 'opened' | 'resolved';
  alert_id: string;
}

export interface SloEvaluation {
  at: string;
  results: GroupResult[];
  transitions: SloTransition[];
  /** Alert rows written (opened and resolved). */
  alerts: AlertRecord[];
}

export interface EvaluateOptions {
  store: Store;
  specs: readonly SloSpec[];
  at: Date;
  tables?: Map<string, WindowTable>;
  /** Write slo_status rows and alert transitions (default true); false only computes. */
  write?: boolean;
}

/** Every policy an SLO is judged by: its period's window table, then its own extra policies. */
export function policiesOf(spec: SloSpec, tables: Map<string, WindowTable>): BurnRatePolicy[] {
  const table = windowTableFor(periodOf(spec), tables);
  return [...(spec.spec.alerting.windowTable ? table.policies : []), ...spec.spec.alerting.policies];
}

/** Window labels an SLO needs, longest first: the period, then each policy's long and short windows. */
export function windowsOf(spec: SloSpec, policies: readonly BurnRatePolicy[]): string[] {
  const all = new Set([periodOf(spec), ...policies.flatMap((p) => [p.longWindow, p.shortWindow])]);
  return [...all].sort((a, b) => durationMs(b) - durationMs(a));
}

const groupId = (g: GroupKey) => [g.tenant, g.source, g.region, g.key_id].join('\u0000');

function describeGroup(g: GroupKey): string {
  const parts = [g.tenant && `tenant ${g.tenant}`, g.source && `source ${g.source}`, g.region && `region ${g.region}`, g.key_id && `key ${g.key_id}`].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'all events';
}

const fmt = (x: number | null): string => (x === null ? 'n/a' : Number.isFinite(x) ? `${Number(x.toFixed(2))}×` : '∞');

/**
 * Evaluates SLOs at one instant: counts per group and window, burn rates, budgets, policy states;
 * writes slo_status and moves burn-rate alerts between open and resolved (one alert per SLO,
 * group and action, kept while it fires, resolved when its policies stop firing).
 */
export async function evaluateSlos(o: EvaluateOptions): Promise<SloEvaluation> {
  const tables = o.tables ?? loadWindowTables();
  const write = o.write ?? true;
  const at = o.at;
  const results: GroupResult[] = [];
  const transitions: SloTransition[] = [];
  const alerts: AlertRecord[] = [];
  const statusRows: Record<string, unknown>[] = [];
  const written = ch(new Date());

  for (const spec of o.specs) {
    const name = spec.metadata.name;
    const objective = objectiveOf(spec);
    const period = periodOf(spec);
    const policies = policiesOf(spec, tables);
    const labels = windowsOf(spec, policies);
    const windows: WindowSpec[] = labels.map((l) => ({ name: l, from: new Date(at.getTime() - durationMs(l)) }));
    const q = sliQuery(spec.spec.indicator, spec.spec.groupBy, windows, at);
    const rows = await o.store.query<Record<string, string>>(q.sql, q.params);
    // An SLO over everything has one group even with no events at all: "no data" is a state to report.
    if (rows.length === 0 && spec.spec.groupBy.length === 0) rows.push({ tenant: '', source: '', region: '', key_id: '' });

    const specResults: GroupResult[] = rows.map((r) => {
      const group: GroupKey = { tenant: r.tenant ?? '', source: r.source ?? '', region: r.region ?? '', key_id: r.key_id ?? '' };
      const counts = new Map<string, Counts>(labels.map((l, i) => [l, { good: Number(r[`good_${i}`] ?? 0), total: Number(r[`total_${i}`] ?? 0) }]));
      const get = (l: string): Counts => counts.get(l) ?? { good: 0, total: 0 };
      const policyResults = policies.map((p) => evaluatePolicy(p, get(p.longWindow), get(p.shortWindow), objective, spec.spec.minEvents));
      return {
        slo: name,
        group,
        state: sloState(policyResults, get(period)),
        budgetRemaining: budgetRemaining(get(period), objective),
        windows: labels.map((l) => ({ window: l, ...get(l), errorRatio: errorRatio(get(l)), burnRate: burnRate(get(l), objective) })),
        policies: policyResults,
      };
    });
    results.push(...specResults);

    for (const g of specResults) {
      for (const w of g.windows) {
        statusRows.push({
          evaluated_time: ch(at),
          slo: name,
          display_name: spec.metadata.displayName ?? name,
          period,
          objective,
          ...g.group,
          window_name: w.window,
          window_seconds: durationMs(w.window) / 1000,
          good: w.good,
          total: w.total,
          error_ratio: w.errorRatio,
          // JSON has no infinity; ClickHouse reads the quoted `inf` into Float64.
          burn_rate: w.burnRate === null ? null : Number.isFinite(w.burnRate) ? w.burnRate : 'inf',
          budget_remaining: g.budgetRemaining,
          state: g.state,
          written_time: written,
        });
      }
    }

    // Alert transitions against the open alerts of this SLO.
    const open = await o.store.query<AlertRecord & { action: string }>(
      `SELECT alert_id, toString(detected_time) AS detected_time, detector, title, severity, score, tenant, key_id, principal,
              toString(first_time) AS first_time, toString(last_time) AS last_time, event_count, event_ids, evidence, runbook, status, suppressed_by,
              JSONExtractString(evidence, 'action') AS action
       FROM alerts FINAL
       WHERE detector = {d:String} AND status = 'open' AND JSONExtractString(evidence, 'slo') = {slo:String}`,
      { d: SLO_DETECTOR, slo: name },
    );
    const openBy = new Map(open.map((a) => [`${groupId(groupOfAlert(a))}\u0000${a.action}`, a]));
    const firingBy = new Map<string, { g: GroupResult; action: 'page' | 'ticket'; fired: PolicyResult[] }>();
    for (const g of specResults) {
      for (const action of ['page', 'ticket'] as const) {
        const fired = g.policies.filter((p) => p.state === 'firing' && p.action === action);
        if (fired.length > 0) firingBy.set(`${groupId(g.group)}\u0000${action}`, { g, action, fired });
      }
    }
    for (const [k, f] of firingBy) {
      if (openBy.has(k)) continue;
      const row = openedAlert(spec, policies, f.g, f.action, f.fired, at, objective, period);
      alerts.push(row);
      transitions.push({ slo: name, group: f.g.group, action: f.action, change: 'opened', alert_id: row.alert_id });
    }
    for (const [k, a] of openBy) {
      if (firingBy.has(k)) continue;
      const g = specResults.find((r) => `${groupId(r.group)}\u0000${a.action}` === k);
      const evidence = { ...(JSON.parse(a.evidence) as Record<string, unknown>), resolved_at: at.toISOString(), budget_remaining_at_resolve: g?.budgetRemaining ?? null, state_at_resolve: g?.state ?? 'no_data' };
      const row: AlertRecord = {
        ...a,
        score: Number(a.score),
        event_count: Number(a.event_count),
        detected_time: ch(at),
        last_time: ch(at),
        status: 'resolved',
        resolved_time: ch(at),
        evidence: JSON.stringify(evidence),
      };
      delete (row as Partial<typeof a>).action;
      alerts.push(row);
      transitions.push({ slo: name, group: groupOfAlert(a), action: a.action as 'page' | 'ticket', change: 'resolved', alert_id: a.alert_id });
    }
  }

  if (write) {
    await o.store.insertRows('slo_status', statusRows);
    await o.store.insertRows('alerts', alerts);
  }
  return { at: at.toISOString(), results, transitions, alerts };
}

function groupOfAlert(a: Pick<AlertRecord, 'evidence'>): GroupKey {
  const e = JSON.parse(a.evidence) as { group?: Partial<GroupKey> };
  return { tenant: e.group?.tenant ?? '', source: e.group?.source ?? '', region: e.group?.region ?? '', key_id: e.group?.key_id ?? '' };
}

function openedAlert(spec: SloSpec, all: readonly BurnRatePolicy[], g: GroupResult, action: 'page' | 'ticket', fired: PolicyResult[], at: Date, objective: number, period: string): AlertRecord {
  const name = spec.metadata.name;
  // The fastest-burning firing policy explains the alert.
  const worst = fired.reduce((a, b) => ((b.burnLong ?? 0) / b.factor > (a.burnLong ?? 0) / a.factor ? b : a));
  const policy = all.find((p) => p.name === worst.policy);
  const windowsOfWorst = policy ? `${policy.longWindow}/${policy.shortWindow}` : '';
  const longCounts = g.windows.find((w) => w.window === (policy?.longWindow ?? ''));
  const alertId = createHash('sha256').update([SLO_DETECTOR, name, groupId(g.group), action, ch(at)].join('\u0000')).digest('hex').slice(0, 32);
  const ratio = (x: number) => Number(x.toFixed(4));
  const evidence = {
    slo: name,
    action,
    group: g.group,
    objective,
    period,
    policies: fired.map((p) => ({ policy: p.policy, factor: p.factor, burn_long: p.burnLong === null ? null : Number.isFinite(p.burnLong) ? ratio(p.burnLong) : 'inf', burn_short: p.burnShort === null ? null : Number.isFinite(p.burnShort) ? ratio(p.burnShort) : 'inf' })),
    windows: Object.fromEntries(g.windows.map((w) => [w.window, { good: w.good, total: w.total }])),
    budget_remaining: g.budgetRemaining === null ? null : ratio(g.budgetRemaining),
  };
  const score = Math.min(100, Math.round(50 * Math.min(2, (worst.burnLong ?? 0) / worst.factor)));
  return {
    alert_id: alertId,
    detected_time: ch(at),
    detector: SLO_DETECTOR,
    title: `SLO ${spec.metadata.displayName ?? name} ${action === 'page' ? 'is burning its error budget fast' : 'is burning its error budget'}: ${fmt(worst.burnLong)} over ${windowsOfWorst || worst.policy} (${describeGroup(g.group)})`,
    severity: action === 'page' ? 'critical' : 'medium',
    score,
    tenant: g.group.tenant,
    key_id: g.group.key_id,
    principal: '',
    first_time: ch(at),
    last_time: ch(at),
    event_count: longCounts ? longCounts.total - longCounts.good : 0,
    event_ids: [],
    evidence: JSON.stringify(evidence),
    runbook: runbookOf(spec, action),
    status: 'open',
    suppressed_by: '',
    resolved_time: null,
  };
}

function runbookOf(spec: SloSpec, action: 'page' | 'ticket'): string {
  const what = spec.spec.description ? `${spec.spec.description} ` : '';
  return `${what}${action === 'page' ? 'At this rate the error budget is gone within days: act now.' : 'The budget is being spent faster than it refills: plan a fix this week.'} Look at the failing events of the group (keywatch sql "SELECT event_time, key_id, operation, outcome, error_code, latency_ms, principal FROM key_events WHERE event_time >= now() - INTERVAL 1 HOUR AND outcome = 'failure' ORDER BY event_time DESC LIMIT 100"), the error codes (throttling, access denied, key disabled, HSM unavailable) and the provider's status page; the alert resolves itself when the short window recovers.`;
}
