import type { DemoIncident } from '../demo/sources/demo-source.ts';
import type { AlertRow } from '../detectors/engine.ts';

/**
 * Precision and recall of the detectors against the labeled incidents of `keywatch demo`: pure
 * functions over incidents and alert rows, no store. `cli/commands/evaluate.ts` produces both.
 */

/** A demo incident with the source that injected it. */
export interface LabeledIncident extends DemoIncident {
  source: string;
}

/** What matching needs of an alert row. */
export type EvalAlert = Pick<AlertRow, 'detector' | 'tenant' | 'principal' | 'key_id' | 'first_time' | 'last_time'> & Partial<Pick<AlertRow, 'alert_id' | 'status'>>;

export const DEFAULT_WINDOW_MINUTES = 60;

/** Alert times are ClickHouse `YYYY-MM-DD hh:mm:ss.sss` (UTC); ISO strings work too. */
export function parseTime(s: string): number {
  const iso = s.includes('T') ? s : s.replace(' ', 'T');
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The labeled value appears in the alert's as a whole token (case-insensitive): `mallory` in an ARN, `CO` not in `secops`. */
const agrees = (want: string | undefined, got: string): boolean => want === undefined || want === '' || new RegExp(`(^|[^a-z0-9])${escape(want.toLowerCase())}($|[^a-z0-9])`).test(got.toLowerCase());

/**
 * An alert matches an incident when its detector is one the incident expects, its tenant is the
 * incident's (when labeled), its principal and key id contain the labeled ones as whole tokens
 * (case-insensitive, so a key id matches its ARN and `CO` does not match `secops`), and its [first_time, last_time] overlaps [at - window, at + window].
 * An alert that names no key (admin-off-hours: one alert per principal) is not held to the labeled key.
 */
export function alertMatches(alert: EvalAlert, incident: DemoIncident): boolean {
  const e = incident.expect;
  if (!e || !e.detectors.includes(alert.detector)) return false;
  if (e.tenant !== undefined && e.tenant !== alert.tenant) return false;
  if (!agrees(e.principal, alert.principal) || (alert.key_id !== '' && !agrees(e.key_id, alert.key_id))) return false;
  const at = parseTime(incident.at);
  const w = (e.windowMinutes ?? DEFAULT_WINDOW_MINUTES) * 60_000;
  const first = parseTime(alert.first_time);
  const last = Math.max(first, parseTime(alert.last_time));
  return first <= at + w && last >= at - w;
}

export interface DetectorScore {
  detector: string;
  /** Incidents that name this detector. */
  expected: number;
  /** Of those, the ones an alert of this detector matched. */
  found: number;
  /** found / expected; null when nothing is expected. */
  recall: number | null;
  alerts: number;
  /** Alerts that match at least one incident. */
  matched: number;
  /** matched / alerts; null when there are no alerts. */
  precision: number | null;
}

export interface IncidentResult {
  source: string;
  id: string;
  at: string;
  what: string;
  expected: string[];
  foundBy: string[];
  missedBy: string[];
}

export interface Evaluation {
  detectors: DetectorScore[];
  incidents: IncidentResult[];
  /** Incidents with no expected detector (not a detector's job, e.g. coverage gaps). */
  unlabeled: { source: string; id: string; at: string; what: string }[];
  overall: {
    /** Incidents with at least one expected detector. */
    incidents: number;
    /** Incidents every expected detector found. */
    incidentsFullyFound: number;
    /** Incidents at least one expected detector found. */
    incidentsFound: number;
    /** (incident, detector) pairs. */
    expected: number;
    found: number;
    recall: number | null;
    alerts: number;
    matched: number;
    precision: number | null;
  };
}

const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

/**
 * Scores the alerts against the incidents. Only open alerts count (suppressed ones were decided
 * by configuration). Every detector of `detectorIds` gets a row, as do detectors named by labels
 * or alerts that are not in it.
 */
export function evaluate(incidents: readonly LabeledIncident[], alerts: readonly EvalAlert[], detectorIds: readonly string[] = []): Evaluation {
  const open = alerts.filter((a) => a.status === undefined || a.status === 'open');
  const ids = [...detectorIds];
  const add = (d: string) => {
    if (!ids.includes(d)) ids.push(d);
  };
  for (const i of incidents) for (const d of i.expect?.detectors ?? []) add(d);
  for (const a of open) add(a.detector);

  const results: IncidentResult[] = [];
  const unlabeled: Evaluation['unlabeled'] = [];
  for (const i of incidents) {
    const expected = [...new Set(i.expect?.detectors ?? [])];
    if (expected.length === 0) {
      unlabeled.push({ source: i.source, id: i.id, at: i.at, what: i.what });
      continue;
    }
    const foundBy = expected.filter((d) => open.some((a) => a.detector === d && alertMatches(a, i)));
    results.push({ source: i.source, id: i.id, at: i.at, what: i.what, expected, foundBy, missedBy: expected.filter((d) => !foundBy.includes(d)) });
  }

  const detectors: DetectorScore[] = ids.map((d) => {
    const exp = results.filter((r) => r.expected.includes(d));
    const found = exp.filter((r) => r.foundBy.includes(d)).length;
    const mine = open.filter((a) => a.detector === d);
    const matched = mine.filter((a) => incidents.some((i) => alertMatches(a, i))).length;
    return { detector: d, expected: exp.length, found, recall: ratio(found, exp.length), alerts: mine.length, matched, precision: ratio(matched, mine.length) };
  });
  const sum = (f: (s: DetectorScore) => number) => detectors.reduce((n, s) => n + f(s), 0);
  const expected = sum((s) => s.expected);
  const found = sum((s) => s.found);
  const alertCount = sum((s) => s.alerts);
  const matched = sum((s) => s.matched);
  return {
    detectors,
    incidents: results,
    unlabeled,
    overall: {
      incidents: results.length,
      incidentsFullyFound: results.filter((r) => r.missedBy.length === 0).length,
      incidentsFound: results.filter((r) => r.foundBy.length > 0).length,
      expected,
      found,
      recall: ratio(found, expected),
      alerts: alertCount,
      matched,
      precision: ratio(matched, alertCount),
    },
  };
}

/** Open alerts per detector on clean traffic (the target is none); every id of `detectorIds` gets a row. */
export function baselineCounts(alerts: readonly EvalAlert[], detectorIds: readonly string[] = []): { detector: string; alerts: number }[] {
  const open = alerts.filter((a) => a.status === undefined || a.status === 'open');
  const ids = [...detectorIds];
  for (const a of open) if (!ids.includes(a.detector)) ids.push(a.detector);
  return ids.map((d) => ({ detector: d, alerts: open.filter((a) => a.detector === d).length }));
}

export const TARGET_PRECISION = 0.9;
export const TARGET_RECALL = 1;

const pct = (x: number | null): string => (x === null ? '-' : x.toFixed(2));
const mark = (ok: boolean): string => (ok ? 'ok' : 'MISS');

/** The text report: the per-detector table, the targets, the missed incidents and the baseline. */
export function formatEvaluation(e: Evaluation, baseline?: { days: number; counts: { detector: string; alerts: number }[] }): string {
  const lines: string[] = [];
  const w = Math.max(8, ...e.detectors.map((d) => d.detector.length));
  lines.push(`${'detector'.padEnd(w)}  expected  found  recall  alerts  matched  precision${baseline ? '  baseline' : ''}`);
  for (const d of e.detectors) {
    const b = baseline?.counts.find((c) => c.detector === d.detector)?.alerts ?? 0;
    lines.push(
      `${d.detector.padEnd(w)}  ${String(d.expected).padStart(8)}  ${String(d.found).padStart(5)}  ${pct(d.recall).padStart(6)}  ${String(d.alerts).padStart(6)}  ${String(d.matched).padStart(7)}  ${pct(d.precision).padStart(9)}${baseline ? String(b).padStart(10) : ''}`,
    );
  }
  const o = e.overall;
  const bTotal = baseline?.counts.reduce((n, c) => n + c.alerts, 0) ?? 0;
  lines.push(`${'overall'.padEnd(w)}  ${String(o.expected).padStart(8)}  ${String(o.found).padStart(5)}  ${pct(o.recall).padStart(6)}  ${String(o.alerts).padStart(6)}  ${String(o.matched).padStart(7)}  ${pct(o.precision).padStart(9)}${baseline ? String(bTotal).padStart(10) : ''}`);
  lines.push('');
  lines.push('Targets');
  lines.push(`  every injected incident found (recall ${TARGET_RECALL.toFixed(1)})    ${o.incidentsFullyFound}/${o.incidents} incidents found by every expected detector, ${o.incidentsFound}/${o.incidents} by at least one  ${mark(o.incidentsFullyFound === o.incidents)}`);
  const lowPrecision = e.detectors.filter((d) => d.precision !== null && d.precision < TARGET_PRECISION).map((d) => d.detector);
  lines.push(`  precision >= ${TARGET_PRECISION} per detector and overall  overall ${pct(o.precision)}${lowPrecision.length ? `; below: ${lowPrecision.join(', ')}` : ''}  ${mark(lowPrecision.length === 0 && (o.precision === null || o.precision >= TARGET_PRECISION))}`);
  if (baseline) lines.push(`  no alert on a ${baseline.days}-day clean baseline          ${bTotal} alert(s)${bTotal ? `: ${baseline.counts.filter((c) => c.alerts > 0).map((c) => `${c.detector} ${c.alerts}`).join(', ')}` : ''}  ${mark(bTotal === 0)}`);
  const missed = e.incidents.filter((i) => i.missedBy.length > 0);
  if (missed.length) {
    lines.push('');
    lines.push('Missed (incident: detectors that did not find it)');
    for (const i of missed) lines.push(`  ${i.at}  ${i.source}/${i.id}: ${i.missedBy.join(', ')}${i.foundBy.length ? ` (found by ${i.foundBy.join(', ')})` : ''}`);
  }
  if (e.unlabeled.length) {
    lines.push('');
    lines.push('Not scored (no detector expected; other checks cover them)');
    for (const i of e.unlabeled) lines.push(`  ${i.at}  ${i.source}/${i.id}`);
  }
  return lines.join('\n') + '\n';
}
