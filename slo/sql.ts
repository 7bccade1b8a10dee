import type { QueryParams } from '../storage/store.ts';
import { readFileSync } from 'node:fs';
import type { EventFilter, GroupDimension, Indicator } from './spec.ts';

/** Error codes that are the key service's fault (slo/error-kinds.json). */
export const SERVER_ERROR_CODES: readonly string[] = (JSON.parse(readFileSync(new URL('./error-kinds.json', import.meta.url), 'utf8')) as { server: string[] }).server;

/*
 * SQL for one SLO evaluation: one query that counts good and total occurrences per group over
 * every window the SLO needs, ending at the evaluation time. Each indicator is first turned into
 * a relation of occurrences (group columns, t, n, good) and then counted with sumIf per window,
 * so every kind of indicator shares the windowing. Values only ever reach the SQL as parameters.
 */

const COLUMN: Record<Exclude<keyof EventFilter, 'not' | 'errorKind'>, string> = {
  tenant: 'tenant',
  source: 'source',
  region: 'region',
  keyId: 'key_id',
  operation: 'operation',
  operationClass: 'operation_class',
  outcome: 'outcome',
  errorCode: 'error_code',
  principalType: 'principal_type',
};

const GROUP_COLUMN: Record<GroupDimension, string> = { tenant: 'tenant', source: 'source', region: 'region', key: 'key_id' };

/** Builds parameter names that never collide within one query. */
class Params {
  readonly values: QueryParams = {};
  private n = 0;
  add(value: unknown, type: string): string {
    const name = `p${this.n++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

/** A filter as a SQL predicate (TRUE when empty). */
export function filterSql(f: EventFilter, p: Params, o: { serverErrorColumn?: string } = {}): string {
  const parts: string[] = [];
  for (const [field, column] of Object.entries(COLUMN) as [Exclude<keyof EventFilter, 'not' | 'errorKind'>, string][]) {
    const values = f[field];
    if (values && values.length > 0) parts.push(`${column} IN ${p.add(values, 'Array(String)')}`);
  }
  if (f.errorKind && f.errorKind.length > 0) {
    const server = o.serverErrorColumn ?? `error_code IN ${p.add(SERVER_ERROR_CODES, 'Array(String)')}`;
    const kinds = f.errorKind.map((k) => (k === 'server' ? `(outcome = 'failure' AND ${server})` : `(outcome = 'failure' AND NOT ${server})`));
    parts.push(`(${kinds.join(' OR ')})`);
  }
  if (f.not) parts.push(`NOT (${filterSql(f.not, p, o)})`);
  return parts.length > 0 ? parts.join(' AND ') : '1';
}

export interface WindowSpec {
  /** Column suffix and the label stored in slo_status, e.g. `1h`. */
  name: string;
  /** Window start: the evaluation time minus the window. */
  from: Date;
}

export interface SliQuery {
  sql: string;
  params: QueryParams;
}

const ch = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

/** The occurrences relation of an indicator, over [from, to). */
function occurrences(ind: Indicator, cols: string, from: Date, to: Date, p: Params): string {
  const range = (column: string) => `${column} >= ${p.add(ch(from), 'DateTime64(3)')} AND ${column} < ${p.add(ch(to), 'DateTime64(3)')}`;
  if ('ratio' in ind) {
    return `SELECT ${cols}, event_time AS t, toUInt64(1) AS n, (${filterSql(ind.ratio.good, p)}) AS good
      FROM key_events WHERE ${range('event_time')} AND (${filterSql(ind.ratio.total, p)})`;
  }
  if ('latency' in ind) {
    return `SELECT ${cols}, event_time AS t, toUInt64(1) AS n, (latency_ms <= ${p.add(ind.latency.thresholdMs, 'Float64')}) AS good
      FROM key_events WHERE ${range('event_time')} AND latency_ms IS NOT NULL AND (${filterSql(ind.latency.filter, p)})`;
  }
  if ('auditCompleteness' in ind) {
    const src = p.add(ind.auditCompleteness.source, 'Array(String)');
    // A gap counts at the time of the record after it: that is when it became visible.
    return `SELECT ${cols}, event_time AS t, toUInt64(1) AS n, 1 AS good FROM key_events WHERE ${range('event_time')} AND source IN ${src}
      UNION ALL
      SELECT ${cols}, after_time AS t, missing AS n, 0 AS good FROM audit_integrity FINAL
      WHERE kind = 'sequence_gap' AND missing > 0 AND source IN ${src} AND ${range('after_time')}`;
  }
  if ('rotation' in ind) {
    // Completed rotations (provider-internal ones included: AWS and Azure rotate as the provider)
    // and keys the rotation-overdue detector found overdue, at their latest detection.
    return `SELECT ${cols}, event_time AS t, toUInt64(1) AS n, 1 AS good FROM key_events
      WHERE ${range('event_time')} AND operation = 'rotate_key' AND outcome = 'success' AND (${filterSql(ind.rotation.filter, p)})
      UNION ALL
      SELECT ${cols}, detected_time AS t, toUInt64(1) AS n, 0 AS good FROM alerts FINAL
      WHERE detector = 'rotation-overdue' AND status = 'open' AND ${range('detected_time')}`;
  }
  const r = ind.alertRecovery;
  const thr = p.add(r.thresholdMinutes * 60, 'UInt32');
  const extra = [r.detectors ? `detector IN ${p.add(r.detectors, 'Array(String)')}` : "detector != 'slo-burn-rate'", r.severities ? `severity IN ${p.add(r.severities, 'Array(String)')}` : '1'].join(' AND ');
  // A resolved alert counts when it was resolved; one still open counts as bad once it is older than the threshold.
  return `SELECT g_tenant, g_source, g_region, g_key_id, t, toUInt64(1) AS n, good FROM
    (
      SELECT ${cols}, if(status = 'resolved', resolved_time, first_time + toIntervalSecond(${thr})) AS t,
             status = 'resolved' AND dateDiff('second', first_time, resolved_time) <= ${thr} AS good
      FROM alerts FINAL
      WHERE ${extra} AND (status = 'resolved' AND resolved_time IS NOT NULL OR status = 'open')
    )
    WHERE ${range('t')}`;
}

/**
 * One query returning, per group, `good_<i>` and `total_<i>` for each window i (in the order
 * given), with the group columns tenant, source, region, key_id ('' when not grouped by).
 */
export function sliQuery(ind: Indicator, groupBy: readonly GroupDimension[], windows: readonly WindowSpec[], at: Date, opts: { perMinute?: boolean } = {}): SliQuery {
  const p = new Params();
  const earliest = new Date(Math.min(...windows.map((w) => w.from.getTime())));
  // Inner names are prefixed: an alias named like a column (`'' AS source`) would be what a
  // filter on that column reads, since ClickHouse resolves WHERE against SELECT aliases first.
  const groupCols = (['tenant', 'source', 'region', 'key'] as const).map((d) => `${groupBy.includes(d) ? GROUP_COLUMN[d] : "''"} AS g_${GROUP_COLUMN[d]}`);
  const rel = occurrences(ind, groupCols.join(', '), earliest, at, p);
  if (opts.perMinute) {
    // Per group: the minutes (Unix seconds) with occurrences, in order, and their counts.
    return {
      sql: `SELECT tenant, source, region, key_id, groupArray(m) AS minutes, groupArray(g) AS goods, groupArray(tt) AS totals
FROM
(
  SELECT g_tenant AS tenant, g_source AS source, g_region AS region, g_key_id AS key_id, toUnixTimestamp(toStartOfMinute(t)) AS m, sumIf(n, good) AS g, sum(n) AS tt
  FROM (${rel})
  GROUP BY tenant, source, region, key_id, m
  ORDER BY tenant, source, region, key_id, m
)
GROUP BY tenant, source, region, key_id
ORDER BY tenant, source, region, key_id`,
      params: p.values,
    };
  }
  const counts = windows
    .map((w, i) => {
      const from = p.add(ch(w.from), 'DateTime64(3)');
      return `sumIf(n, t >= ${from}) AS total_${i}, sumIf(n, good AND t >= ${from}) AS good_${i}`;
    })
    .join(',\n       ');
  return {
    sql: `SELECT g_tenant AS tenant, g_source AS source, g_region AS region, g_key_id AS key_id,
       ${counts}
FROM (${rel})
GROUP BY tenant, source, region, key_id
ORDER BY tenant, source, region, key_id`,
    params: p.values,
  };
}

/** One events SLO (ratio or latency) for `batchedEventsQuery`: its indicator and window labels. */
export interface BatchedSpec {
  indicator: Extract<Indicator, { ratio: unknown } | { latency: unknown }>;
}

/**
 * Every ratio and latency SLO in one scan of key_events. The inner query counts events by the
 * columns the filters name, by latency flags, and by `b`, the index of the smallest window holding
 * the event (the windows all end at `at`, so they nest); the outer query sums those groups per SLO
 * at the finest grouping (tenant, source, region, key) and bucket. Column `c` of a row is
 * [total_0, good_0, total_1, good_1, ...] for SLOs 0, 1, ...; a window's count is the sum over
 * the buckets up to its index. Callers add up buckets and roll the rows up to each SLO's grouping.
 * `windows` must be sorted from the shortest to the longest.
 */
export function batchedEventsQuery(specs: readonly BatchedSpec[], windows: readonly WindowSpec[], at: Date): SliQuery {
  const p = new Params();
  const last = windows.length - 1;
  const bucket = windows.length === 1 ? '0' : `multiIf(${windows.slice(0, last).map((w, i) => `event_time >= ${p.add(ch(w.from), 'DateTime64(3)')}, ${i}`).join(', ')}, ${last})`;
  const thresholds = [...new Set(specs.flatMap((s) => ('latency' in s.indicator ? [s.indicator.latency.thresholdMs] : [])))];
  // The inner query groups only by the columns some filter names (and the group columns), and by
  // a flag for server-side errors unless a filter names error codes: fewer, larger groups.
  const filters = specs.flatMap((s) => ('ratio' in s.indicator ? [s.indicator.ratio.total, s.indicator.ratio.good] : [s.indicator.latency.filter]));
  const used = new Set<string>();
  const walk = (f: EventFilter) => {
    for (const [field, column] of Object.entries(COLUMN)) if ((f as Record<string, unknown>)[field] !== undefined) used.add(column);
    if (f.errorKind) used.add('outcome').add('server_error');
    if (f.not) walk(f.not);
  };
  filters.forEach(walk);
  const dims = ['tenant', 'source', 'region', 'key_id'];
  const extra = ['operation', 'operation_class', 'outcome', 'error_code', 'principal_type'].filter((c) => used.has(c));
  const serverFlag = used.has('server_error') ? [`error_code IN ${p.add(SERVER_ERROR_CODES, 'Array(String)')} AS server_error`] : [];
  const innerCols = [...dims, ...extra, ...serverFlag.map(() => 'server_error')];
  const latFlags = thresholds.map((thr, i) => `ifNull(latency_ms <= ${p.add(thr, 'Float64')}, 0) AS lat_${i}`);
  const outer = specs.map((s, k) => {
    let total: string;
    let good: string;
    const fo = { serverErrorColumn: 'server_error' };
    if ('ratio' in s.indicator) {
      total = filterSql(s.indicator.ratio.total, p, fo);
      good = `${total} AND ${filterSql(s.indicator.ratio.good, p, fo)}`;
    } else {
      total = `has_latency AND ${filterSql(s.indicator.latency.filter, p, fo)}`;
      good = `${total} AND lat_${thresholds.indexOf(s.indicator.latency.thresholdMs)}`;
    }
    return `toFloat64(sumIf(n, ${total})), toFloat64(sumIf(n, ${good}))`;
  });
  const range = `event_time >= ${p.add(ch(windows[last]?.from ?? at), 'DateTime64(3)')} AND event_time < ${p.add(ch(at), 'DateTime64(3)')}`;
  return {
    sql: `SELECT tenant, source, region, key_id, b,
       [${outer.join(',\n        ')}] AS c
FROM
(
  SELECT ${[...dims, ...extra, ...serverFlag].join(', ')},
         latency_ms IS NOT NULL AS has_latency${latFlags.map((f) => `, ${f}`).join('')},
         ${bucket} AS b, count() AS n
  FROM key_events
  WHERE ${range}
  GROUP BY ${innerCols.join(', ')}, has_latency${thresholds.map((_, i) => `, lat_${i}`).join('')}, b
)
GROUP BY tenant, source, region, key_id, b`,
    params: p.values,
  };
}
