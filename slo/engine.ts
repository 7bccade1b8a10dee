import { createHash } from 'node:crypto';
import type { AlertRecord } from '../core/alert.ts';
import type { Store } from '../storage/store.ts';
import { budgetRemaining, burnRate, errorRatio, evaluatePolicy, sloState, type Counts, type PolicyResult, type SloState } from './burn-rate.ts';
import { durationMs } from './duration.ts';
import { objectiveOf, periodOf, type SloSpec } from './spec.ts';
import { batchedEventsQuery, sliQuery, type WindowSpec } from './sql.ts';
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
  /** Where the time went: counting in ClickHouse, judging in memory, writing slo_status and alerts. */
  timings?: { countSeconds: number; judgeSeconds: number; writeSeconds: number };
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

type OpenAlert = AlertRecord & { action: string };

/** Per group: the counts of each window label. */
interface GroupCounts {
  group: GroupKey;
  counts: Map<string, Counts>;
}

function resultsOf(spec: SloSpec, policies: readonly BurnRatePolicy[], labels: readonly string[], groups: readonly GroupCounts[]): GroupResult[] {
  const objective = objectiveOf(spec);
  const period = periodOf(spec);
  const list = [...groups];
  // An SLO over everything has one group even with no events at all: "no data" is a state to report.
  if (list.length === 0 && spec.spec.groupBy.length === 0) list.push({ group: { tenant: '', source: '', region: '', key_id: '' }, counts: new Map() });
  return list.map(({ group, counts }) => {
    const get = (l: string): Counts => counts.get(l) ?? { good: 0, total: 0 };
    const policyResults = policies.map((p) => evaluatePolicy(p, get(p.longWindow), get(p.shortWindow), objective, spec.spec.minEvents, spec.spec.minBadEvents));
    return {
      slo: spec.metadata.name,
      group,
      state: sloState(policyResults, get(period)),
      budgetRemaining: budgetRemaining(get(period), objective),
      windows: labels.map((l) => ({ window: l, ...get(l), errorRatio: errorRatio(get(l)), burnRate: burnRate(get(l), objective) })),
      policies: policyResults,
    };
  });
}

function statusRowsOf(spec: SloSpec, results: readonly GroupResult[], at: Date, written: string): Record<string, unknown>[] {
  // JSON has no infinity; ClickHouse reads the quoted `inf` into Float64.
  const num = (x: number | null) => (x === null ? null : Number.isFinite(x) ? x : 'inf');
  return results.map((g) => ({
    evaluated_time: ch(at),
    slo: spec.metadata.name,
    display_name: spec.metadata.displayName ?? spec.metadata.name,
    period: periodOf(spec),
    objective: objectiveOf(spec),
    ...g.group,
    state: g.state,
    budget_remaining: num(g.budgetRemaining),
    good: Object.fromEntries(g.windows.map((w) => [w.window, w.good])),
    total: Object.fromEntries(g.windows.map((w) => [w.window, w.total])),
    error_ratio: Object.fromEntries(g.windows.map((w) => [w.window, w.errorRatio])),
    burn_rate: Object.fromEntries(g.windows.map((w) => [w.window, num(w.burnRate)])),
    firing: g.policies.filter((p) => p.state === 'firing').map((p) => p.policy),
    written_time: written,
  }));
}

/** The open burn-rate alerts of these SLOs, per SLO, keyed by group and action. */
async function openAlertsOf(store: Store, slos: readonly string[]): Promise<Map<string, Map<string, OpenAlert>>> {
  const open = await store.query<OpenAlert & { slo: string }>(
    `SELECT alert_id, toString(detected_time) AS detected_time, detector, title, severity, score, tenant, key_id, principal,
            toString(first_time) AS first_time, toString(last_time) AS last_time, event_count, event_ids, evidence, runbook, status, suppressed_by,
            JSONExtractString(evidence, 'action') AS action, JSONExtractString(evidence, 'slo') AS slo
     FROM alerts FINAL
     WHERE detector = {d:String} AND status = 'open' AND JSONExtractString(evidence, 'slo') IN {slos:Array(String)}`,
    { d: SLO_DETECTOR, slos: [...slos] },
  );
  const out = new Map<string, Map<string, OpenAlert>>(slos.map((n) => [n, new Map()]));
  for (const { slo, ...a } of open) out.get(slo)?.set(`${groupId(groupOfAlert(a))}\u0000${a.action}`, { ...a, score: Number(a.score), event_count: Number(a.event_count) });
  return out;
}

/**
 * Moves the SLO's alerts at `at`: opens one per group and action that fires without an open
 * alert, resolves open ones whose action no longer fires. `open` is updated in place.
 */
function advance(spec: SloSpec, policies: readonly BurnRatePolicy[], results: readonly GroupResult[], open: Map<string, OpenAlert>, at: Date): { alerts: AlertRecord[]; transitions: SloTransition[] } {
  const name = spec.metadata.name;
  const alerts: AlertRecord[] = [];
  const transitions: SloTransition[] = [];
  const firing = new Map<string, { g: GroupResult; action: 'page' | 'ticket'; fired: PolicyResult[] }>();
  for (const g of results) {
    for (const action of ['page', 'ticket'] as const) {
      const fired = g.policies.filter((p) => p.state === 'firing' && p.action === action);
      if (fired.length > 0) firing.set(`${groupId(g.group)}\u0000${action}`, { g, action, fired });
    }
  }
  for (const [k, f] of firing) {
    if (open.has(k)) continue;
    const row = openedAlert(spec, policies, f.g, f.action, f.fired, at, objectiveOf(spec), periodOf(spec));
    alerts.push(row);
    open.set(k, { ...row, action: f.action });
    transitions.push({ slo: name, group: f.g.group, action: f.action, change: 'opened', alert_id: row.alert_id });
  }
  const byGroup = new Map(results.map((r) => [groupId(r.group), r]));
  for (const [k, a] of [...open]) {
    if (firing.has(k)) continue;
    const g = byGroup.get(groupId(groupOfAlert(a)));
    const evidence = { ...(JSON.parse(a.evidence) as Record<string, unknown>), resolved_at: at.toISOString(), budget_remaining_at_resolve: g?.budgetRemaining ?? null, state_at_resolve: g?.state ?? 'no_data' };
    const { action, ...rest } = a;
    alerts.push({ ...rest, detected_time: ch(at), last_time: ch(at), status: 'resolved', resolved_time: ch(at), evidence: JSON.stringify(evidence) });
    open.delete(k);
    transitions.push({ slo: name, group: groupOfAlert(a), action: action as 'page' | 'ticket', change: 'resolved', alert_id: a.alert_id });
  }
  return { alerts, transitions };
}

type EventsIndicator = Extract<SloSpec['spec']['indicator'], { ratio: unknown } | { latency: unknown }>;
const isEvents = (i: SloSpec['spec']['indicator']): i is EventsIndicator => 'ratio' in i || 'latency' in i;

/**
 * Counts per SLO, group and window at `at`. Ratio and latency SLOs share one scan of key_events
 * (batchedEventsQuery), rolled up here from the finest grouping to each SLO's own; the other
 * indicators read their own tables, one query each.
 */
async function countAt(store: Store, prepared: readonly { spec: SloSpec; labels: string[] }[], at: Date): Promise<Map<string, GroupCounts[]>> {
  const out = new Map<string, GroupCounts[]>();
  const events = prepared.filter((p) => isEvents(p.spec.spec.indicator));
  if (events.length > 0) {
    const union = [...new Set(events.flatMap((p) => p.labels))].sort((a, b) => durationMs(a) - durationMs(b));
    const windows: WindowSpec[] = union.map((l) => ({ name: l, from: new Date(at.getTime() - durationMs(l)) }));
    const q = batchedEventsQuery(events.map((p) => ({ indicator: p.spec.spec.indicator as EventsIndicator })), windows, at);
    // Counts arrive as Float64 (exact far beyond any real count), so JSON gives numbers.
    const rows = await store.query<{ tenant: string; source: string; region: string; key_id: string; b: number; c: number[] }>(q.sql, q.params);
    const nb = union.length;
    // Group ids per row, once per distinct grouping rather than once per SLO.
    const idsBySignature = new Map<string, { ids: string[]; groups: Map<string, GroupKey> }>();
    const idsFor = (dims: readonly string[]) => {
      const sig = dims.join(',');
      let v = idsBySignature.get(sig);
      if (!v) {
        const groups = new Map<string, GroupKey>();
        const ids = rows.map((r) => {
          const group: GroupKey = {
            tenant: dims.includes('tenant') ? r.tenant : '',
            source: dims.includes('source') ? r.source : '',
            region: dims.includes('region') ? r.region : '',
            key_id: dims.includes('key') ? r.key_id : '',
          };
          const id = groupId(group);
          if (!groups.has(id)) groups.set(id, group);
          return id;
        });
        idsBySignature.set(sig, (v = { ids, groups }));
      }
      return v;
    };
    events.forEach((p, k) => {
      const { ids, groups: keys } = idsFor(p.spec.spec.groupBy);
      // Per group: total and good per bucket, then cumulated so that bucket i holds window i's counts.
      const byGroup = new Map<string, Float64Array>();
      rows.forEach((r, i) => {
        const total = r.c[2 * k] ?? 0;
        if (total === 0) return;
        const id = ids[i] ?? '';
        let buckets = byGroup.get(id);
        if (!buckets) byGroup.set(id, (buckets = new Float64Array(2 * nb)));
        const b = r.b;
        buckets[2 * b] = (buckets[2 * b] ?? 0) + total;
        buckets[2 * b + 1] = (buckets[2 * b + 1] ?? 0) + (r.c[2 * k + 1] ?? 0);
      });
      const idx = p.labels.map((l) => union.indexOf(l));
      const period = union.indexOf(periodOf(p.spec));
      const groups: GroupCounts[] = [];
      for (const [id, buckets] of [...byGroup].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
        const group = keys.get(id) as GroupKey;
        for (let i = 1; i < nb; i++) {
          buckets[2 * i] = (buckets[2 * i] ?? 0) + (buckets[2 * i - 2] ?? 0);
          buckets[2 * i + 1] = (buckets[2 * i + 1] ?? 0) + (buckets[2 * i - 1] ?? 0);
        }
        if ((buckets[2 * period] ?? 0) === 0) continue;
        groups.push({ group, counts: new Map(p.labels.map((l, j) => [l, { total: buckets[2 * (idx[j] ?? 0)] ?? 0, good: buckets[2 * (idx[j] ?? 0) + 1] ?? 0 }])) });
      }
      // A group exists when it had events in the period (the SLO's longest window), as with a query per SLO.
      out.set(p.spec.metadata.name, groups);
    });
  }
  for (const p of prepared.filter((x) => !isEvents(x.spec.spec.indicator))) {
    const windows: WindowSpec[] = p.labels.map((l) => ({ name: l, from: new Date(at.getTime() - durationMs(l)) }));
    const q = sliQuery(p.spec.spec.indicator, p.spec.spec.groupBy, windows, at);
    const rows = await store.query<Record<string, string>>(q.sql, q.params);
    out.set(
      p.spec.metadata.name,
      rows.map((r) => ({
        group: { tenant: r.tenant ?? '', source: r.source ?? '', region: r.region ?? '', key_id: r.key_id ?? '' },
        counts: new Map(p.labels.map((l, i) => [l, { good: Number(r[`good_${i}`] ?? 0), total: Number(r[`total_${i}`] ?? 0) }])),
      })),
    );
  }
  return out;
}

/**
 * Evaluates SLOs at one instant: counts per group and window, burn rates, budgets, policy states;
 * writes slo_status and moves burn-rate alerts between open and resolved (one alert per SLO,
 * group and action, kept while it fires, resolved when its policies stop firing).
 */
export async function evaluateSlos(o: EvaluateOptions): Promise<SloEvaluation> {
  const tables = o.tables ?? loadWindowTables();
  const write = o.write ?? true;
  const at = o.at;
  const out: SloEvaluation = { at: at.toISOString(), results: [], transitions: [], alerts: [] };
  const statusRows: Record<string, unknown>[] = [];
  const written = ch(new Date());

  const prepared = o.specs.map((spec) => {
    const policies = policiesOf(spec, tables);
    return { spec, policies, labels: windowsOf(spec, policies) };
  });
  const t0 = performance.now();
  const counted = await countAt(o.store, prepared, at);
  const t1 = performance.now();
  const openBySlo = await openAlertsOf(o.store, o.specs.map((s) => s.metadata.name));
  for (const { spec, policies, labels } of prepared) {
    const results = resultsOf(spec, policies, labels, counted.get(spec.metadata.name) ?? []);
    out.results.push(...results);
    statusRows.push(...statusRowsOf(spec, results, at, written));
    const moved = advance(spec, policies, results, openBySlo.get(spec.metadata.name) ?? new Map(), at);
    out.alerts.push(...moved.alerts);
    out.transitions.push(...moved.transitions);
  }

  const t2 = performance.now();
  if (write) {
    await o.store.insertRows('slo_status', statusRows);
    await o.store.insertRows('alerts', out.alerts);
  }
  const seconds = (a: number, b: number) => Math.round(b - a) / 1000;
  out.timings = { countSeconds: seconds(t0, t1), judgeSeconds: seconds(t1, t2), writeSeconds: seconds(t2, performance.now()) };
  return out;
}

export interface ReplayOptions {
  store: Store;
  specs: readonly SloSpec[];
  /** Evaluate at from, from + step, ... up to and including to (all whole minutes). */
  from: Date;
  to: Date;
  stepMinutes: number;
  tables?: Map<string, WindowTable>;
  /** Write slo_status rows at steps this many minutes apart (and at the last step). */
  statusEveryMinutes?: number;
}

export interface ReplayResult {
  steps: number;
  transitions: (SloTransition & { at: string })[];
  /** Results at the last step. */
  final: GroupResult[];
}

/**
 * Evaluates SLOs at every step of a past range, as a scheduler running every `stepMinutes` would
 * have: the alerts open and resolve at the steps they would have, and slo_status gets a history.
 * Counts come from one query of per-minute buckets per SLO, summed over each window in memory,
 * so a day of one-minute steps costs one scan rather than 1,440.
 */
export async function replaySlos(o: ReplayOptions): Promise<ReplayResult> {
  const tables = o.tables ?? loadWindowTables();
  const MIN = 60_000;
  if (o.from.getTime() % MIN !== 0 || o.to.getTime() % MIN !== 0) throw new Error('replay bounds must be whole minutes');
  const written = ch(new Date());
  const statusEvery = (o.statusEveryMinutes ?? 60) * MIN;
  const result: ReplayResult = { steps: 0, transitions: [], final: [] };
  for (const spec of o.specs) {
    const policies = policiesOf(spec, tables);
    const labels = windowsOf(spec, policies);
    const longest = Math.max(...labels.map(durationMs));
    const q = minuteBucketsQuery(spec, new Date(o.from.getTime() - longest), o.to);
    const rows = await o.store.query<{ tenant: string; source: string; region: string; key_id: string; minutes: number[]; goods: string[]; totals: string[] }>(q.sql, q.params);
    // Prefix sums per group over minute indexes from the first minute of the data.
    const base = o.from.getTime() - longest;
    const span = Math.round((o.to.getTime() - base) / MIN);
    const prefixes = rows.map((r) => {
      const good = new Float64Array(span + 1);
      const total = new Float64Array(span + 1);
      r.minutes.forEach((m, i) => {
        const idx = Math.round((Number(m) * 1000 - base) / MIN);
        if (idx >= 0 && idx < span) {
          good[idx + 1] = (good[idx + 1] ?? 0) + Number(r.goods[i]);
          total[idx + 1] = (total[idx + 1] ?? 0) + Number(r.totals[i]);
        }
      });
      for (let i = 1; i <= span; i++) {
        good[i] = (good[i] ?? 0) + (good[i - 1] ?? 0);
        total[i] = (total[i] ?? 0) + (total[i - 1] ?? 0);
      }
      return { group: { tenant: r.tenant, source: r.source, region: r.region, key_id: r.key_id }, good, total };
    });
    const open = (await openAlertsOf(o.store, [spec.metadata.name])).get(spec.metadata.name) ?? new Map<string, OpenAlert>();
    const alerts: AlertRecord[] = [];
    const statusRows: Record<string, unknown>[] = [];
    let steps = 0;
    for (let t = o.from.getTime(); t <= o.to.getTime(); t += o.stepMinutes * MIN) {
      steps++;
      const end = Math.round((t - base) / MIN);
      const groups: GroupCounts[] = prefixes
        .map((p) => ({
          group: p.group,
          counts: new Map(
            labels.map((l) => {
              const start = Math.max(0, end - durationMs(l) / MIN);
              return [l, { good: (p.good[end] ?? 0) - (p.good[start] ?? 0), total: (p.total[end] ?? 0) - (p.total[start] ?? 0) }];
            }),
          ),
        }))
        // A group with nothing in its period at this step does not exist yet (or any more).
        .filter((g) => (g.counts.get(periodOf(spec))?.total ?? 0) > 0);
      const results = resultsOf(spec, policies, labels, groups);
      const at = new Date(t);
      const moved = advance(spec, policies, results, open, at);
      alerts.push(...moved.alerts);
      result.transitions.push(...moved.transitions.map((x) => ({ ...x, at: at.toISOString() })));
      const last = t + o.stepMinutes * MIN > o.to.getTime();
      if ((t - o.from.getTime()) % statusEvery === 0 || last) statusRows.push(...statusRowsOf(spec, results, at, written));
      if (last) result.final.push(...results);
    }
    result.steps = Math.max(result.steps, steps);
    await o.store.insertRows('slo_status', statusRows);
    await o.store.insertRows('alerts', alerts);
  }
  return result;
}

/** Per group, the minutes with occurrences and their good and total counts, over [from, to). */
function minuteBucketsQuery(spec: SloSpec, from: Date, to: Date): { sql: string; params: Record<string, unknown> } {
  return sliQuery(spec.spec.indicator, spec.spec.groupBy, [{ name: 'all', from }], to, { perMinute: true });
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
