import { createHash } from 'node:crypto';
import type { DetectConfig } from '../core/config.ts';
import { KeywatchError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';
import type { Detector, Finding, Scope, Severity } from './detector.ts';
import { DETECTORS } from './registry.ts';

/** One row of the `alerts` table. */
export type AlertRow = {
  alert_id: string;
  detected_time: string;
  detector: string;
  title: string;
  severity: Severity;
  score: number;
  tenant: string;
  key_id: string;
  principal: string;
  first_time: string;
  last_time: string;
  event_count: number;
  event_ids: string[];
  evidence: string;
  runbook: string;
  status: 'open' | 'suppressed' | 'resolved';
  suppressed_by: string;
  /** Set when the alert was resolved (SLO alerts resolve themselves; see core/alert.ts). */
  resolved_time?: string | null;
};

export interface DetectorRun {
  detector: string;
  status: 'ran' | 'waiting_for_history';
  findings: number;
  alerts: number;
  suppressed: number;
  seconds: number;
  scope: { from: string; to: string; incremental: boolean };
}

export interface DetectOptions {
  store: Store;
  now: Date;
  config: DetectConfig;
  /** Examine events that happened in [from, to) instead of those ingested since each watermark. */
  range?: { from: Date; to: Date };
  /** Run only these detector ids. */
  only?: readonly string[];
  detectors?: readonly Detector[];
  /** Accounts of the tenants map; they count as inside the organization. */
  tenantAccounts?: readonly string[];
}

export interface DetectResult {
  runs: DetectorRun[];
  /** New or updated alerts of this run, suppressed ones included. */
  alerts: AlertRow[];
}

export const chTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');
const fromCh = (s: string): Date => new Date(`${s.replace(' ', 'T')}Z`);

// Provider-internal callers: AWS's own calls and AWS services acting for the customer, Azure Key
// Vault's own scheduled rotation. Wazuh's KMS rules raised millions of Decrypt alerts from these.
export const NOT_INTERNAL_SQL = "principal_type NOT IN ('internal', 'service')";

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}
const matches = (pattern: string | undefined, value: string) => pattern === undefined || globToRegExp(pattern).test(value);

/** Why an alert is suppressed (allow-list or maintenance window), or '' when it is not. */
export function suppression(config: DetectConfig, a: Pick<AlertRow, 'detector' | 'tenant' | 'key_id' | 'principal' | 'first_time' | 'last_time'>, now: Date): string {
  for (const rule of config.allow) {
    if (rule.until && new Date(rule.until) <= now) continue;
    if ((rule.detector === undefined || rule.detector === a.detector) && matches(rule.tenant, a.tenant) && matches(rule.key_id, a.key_id) && matches(rule.principal, a.principal)) {
      return `allow-list: ${rule.reason}`;
    }
  }
  for (const w of config.maintenance) {
    const inWindow = fromCh(a.first_time) >= new Date(w.from) && fromCh(a.last_time) <= new Date(w.to);
    if (inWindow && (w.detectors === undefined || w.detectors.includes(a.detector)) && matches(w.tenant, a.tenant) && matches(w.key_id, a.key_id)) {
      return `maintenance window: ${w.reason}`;
    }
  }
  return '';
}

function alertId(detector: Detector, f: Finding): string {
  const minutes = detector.dedupeMinutes ?? 60;
  const bucket = Math.floor(fromCh(f.first_time).getTime() / (minutes * 60_000));
  return createHash('sha256').update([detector.id, f.tenant, f.key_id, f.principal, f.group ?? '', String(bucket)].join('\u0000')).digest('hex').slice(0, 32);
}

const sevRank: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** Merges two rows of one alert id: the wider span, the larger count and score, the union of ids. */
function merge(a: AlertRow, b: AlertRow): AlertRow {
  return {
    ...b,
    first_time: a.first_time < b.first_time ? a.first_time : b.first_time,
    last_time: a.last_time > b.last_time ? a.last_time : b.last_time,
    event_count: a.event_count + b.event_count,
    event_ids: [...new Set([...a.event_ids, ...b.event_ids])].slice(0, 20),
    score: Math.max(a.score, b.score),
    severity: sevRank[a.severity] > sevRank[b.severity] ? a.severity : b.severity,
  };
}

async function watermarkOf(store: Store, detector: string): Promise<Date | undefined> {
  const [row] = await store.query<{ w: string; n: string }>(
    'SELECT toString(max(watermark)) AS w, count() AS n FROM detector_state WHERE detector = {d:String}',
    { d: detector },
  );
  return row && Number(row.n) > 0 ? fromCh(row.w) : undefined;
}

/**
 * Runs the detectors over the store and writes their alerts. Deterministic for a given store and
 * `now`: alert ids come from the findings, and re-running over the same events replaces alerts.
 *
 * Incremental runs (no `range`) examine, per detector, the events ingested after its watermark
 * and up to the newest ingest_time visible at the start of the run (not after `now`), then move
 * the watermark there. A detector's first run looks back only
 * `initialLookbackHours` of event time, so a new deployment does not page on its whole history;
 * a detector with `historyDays` stays quiet until the store holds that much history.
 */
export async function runDetectors(o: DetectOptions): Promise<DetectResult> {
  const all = o.detectors ?? DETECTORS;
  const selected = o.only ? all.filter((d) => o.only?.includes(d.id)) : all;
  const runs: DetectorRun[] = [];
  const written: AlertRow[] = [];
  const [span] = await o.store.query<{ first: string; n: string }>('SELECT toString(min(event_time)) AS first, count() AS n FROM key_events');
  const historyStart = span && Number(span.n) > 0 ? fromCh(span.first) : o.now;
  // Incremental scopes end at the newest ingest_time already visible, not at `now`: a batch is
  // stamped when its write starts and becomes visible when its INSERT ends, so a watermark moved to
  // `now` would skip a batch being written during the run. One writer writes its batches in order,
  // so nothing older than the newest visible stamp can still appear.
  const [vis] = await o.store.query<{ m: string; n: string }>(
    'SELECT toString(max(ingest_time)) AS m, count() AS n FROM key_events WHERE ingest_time <= {now:DateTime64(3)}',
    { now: chTime(o.now) },
  );
  const visible = vis && Number(vis.n) > 0 ? fromCh(vis.m) : undefined;
  // Results several detectors need (the rotation detectors' key history), computed once per run.
  const sharedResults = new Map<string, Promise<unknown>>();
  const shared = <T>(key: string, compute: () => Promise<T>): Promise<T> => {
    let p = sharedResults.get(key) as Promise<T> | undefined;
    if (!p) {
      p = compute();
      sharedResults.set(key, p);
    }
    return p;
  };

  for (const d of selected) {
    const t0 = performance.now();
    let scope: Scope;
    let incremental = false;
    let upTo = o.now;
    if (o.range) {
      scope = { sql: 'event_time >= {scope_from:DateTime64(3)} AND event_time < {scope_to:DateTime64(3)}', params: { scope_from: chTime(o.range.from), scope_to: chTime(o.range.to) }, from: o.range.from, to: o.range.to };
    } else {
      incremental = true;
      const wm = await watermarkOf(o.store, d.id);
      if (wm) {
        upTo = visible && visible > wm ? visible : wm;
        scope = {
          sql: 'ingest_time > {scope_wm:DateTime64(3)} AND ingest_time <= {scope_now:DateTime64(3)}',
          params: { scope_wm: chTime(wm), scope_now: chTime(upTo) },
          from: new Date(Math.min(wm.getTime(), o.now.getTime()) - o.config.initialLookbackHours * 3_600_000),
          to: o.now,
        };
      } else {
        const from = new Date(o.now.getTime() - o.config.initialLookbackHours * 3_600_000);
        upTo = visible ?? new Date(0);
        scope = { sql: 'event_time >= {scope_from:DateTime64(3)} AND ingest_time <= {scope_now:DateTime64(3)}', params: { scope_from: chTime(from), scope_now: chTime(upTo) }, from, to: o.now };
      }
    }
    const waiting = d.historyDays !== undefined && o.now.getTime() - historyStart.getTime() < d.historyDays * 86_400_000;
    const run: DetectorRun = { detector: d.id, status: waiting ? 'waiting_for_history' : 'ran', findings: 0, alerts: 0, suppressed: 0, seconds: 0, scope: { from: scope.from.toISOString(), to: scope.to.toISOString(), incremental } };
    if (!waiting) {
      const organization = { accounts: [...new Set([...(o.tenantAccounts ?? []), ...o.config.organization.accounts])], domains: o.config.organization.domains };
      const raw = o.config.detectors[d.id] ?? {};
      const parsed = d.settings ? d.settings.safeParse(raw) : { success: true as const, data: raw };
      if (!parsed.success) throw new KeywatchError('CONFIG_INVALID', `detect.detectors.${d.id}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
      const findings = await d.run({ store: o.store, now: o.now, scope, notInternal: o.config.includeInternalCallers ? '1' : NOT_INTERNAL_SQL, organization, settings: parsed.data, config: o.config, shared });
      run.findings = findings.length;
      const byId = new Map<string, AlertRow>();
      for (const f of findings) {
        const row: AlertRow = {
          alert_id: alertId(d, f),
          detected_time: chTime(o.now),
          detector: d.id,
          title: f.title ?? d.title,
          severity: f.severity ?? d.severity,
          score: Math.round(Math.min(100, Math.max(0, f.score)) * 100) / 100,
          tenant: f.tenant,
          key_id: f.key_id,
          principal: f.principal,
          first_time: f.first_time,
          last_time: f.last_time,
          event_count: f.event_count,
          event_ids: f.event_ids.slice(0, 20),
          evidence: JSON.stringify(f.evidence),
          runbook: d.runbook,
          status: 'open',
          suppressed_by: '',
        };
        const prev = byId.get(row.alert_id);
        byId.set(row.alert_id, prev ? merge(prev, row) : row);
      }
      if (byId.size > 0) {
        // An alert found again by a later incremental run (more events in its bucket) grows; it is
        // not replaced by the newer part. A range run writes what it found in its range. Either way
        // an alert an analyst resolved stays resolved unless the new finding has later evidence
        // (then it reopens: the problem came back).
        const existing = await o.store.query<AlertRow>(
          `SELECT alert_id, toString(first_time) AS first_time, toString(last_time) AS last_time, event_count, event_ids, score, severity, status
           FROM alerts FINAL WHERE detector = {d:String} AND alert_id IN {ids:Array(String)}`,
          { d: d.id, ids: [...byId.keys()] },
        );
        for (const e of existing) {
          const cur = byId.get(e.alert_id);
          if (!cur) continue;
          if (e.status === 'resolved' && cur.last_time <= e.last_time) {
            byId.delete(e.alert_id);
            continue;
          }
          if (incremental) byId.set(e.alert_id, merge({ ...cur, ...e, status: 'open', event_count: Number(e.event_count), score: Number(e.score) }, cur));
        }
        const rows = [...byId.values()].map((r) => {
          const why = suppression(o.config, r, o.now);
          return why ? { ...r, status: 'suppressed' as const, suppressed_by: why } : r;
        });
        await o.store.insertRows('alerts', rows);
        for (const r of rows) written.push(r);
        run.alerts = rows.filter((r) => r.status === 'open').length;
        run.suppressed = rows.length - run.alerts;
      }
    }
    run.seconds = Math.round((performance.now() - t0)) / 1000;
    if (incremental) {
      await o.store.insertRows('detector_state', [{ detector: d.id, run_time: chTime(o.now), watermark: chTime(upTo), alerts: run.alerts, seconds: run.seconds }]);
    }
    runs.push(run);
  }
  return { runs, alerts: written };
}
