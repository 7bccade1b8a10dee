import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import type { Store } from '../storage/store.ts';
import { ALL_VALUE } from './panels.ts';

/** A variable's selection: 'all', or the chosen values. */
export type Selection = 'all' | readonly string[];

export interface QueryContext {
  from: Date;
  to: Date;
  /** What Grafana would pass as the query interval ($__interval), in milliseconds. */
  intervalMs: number;
  /** Selection of each template variable; variables not named here are "All". */
  variables?: Record<string, Selection>;
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  rawSql: string;
}

/** Every raw-SQL target of a dashboard, including those of panels inside collapsed rows. */
export function panelQueries(d: Dashboard): PanelQuery[] {
  const out: PanelQuery[] = [];
  const visit = (p: Panel | RowPanel): void => {
    if (p.type === 'row') {
      for (const inner of (p as RowPanel).panels ?? []) visit(inner);
      return;
    }
    for (const t of (p as Panel).targets ?? []) {
      const q = t as unknown as { refId?: string; rawSql?: unknown };
      if (typeof q.rawSql === 'string') out.push({ dashboard: d.uid ?? d.title ?? '', panel: p.title ?? '', refId: q.refId ?? 'A', rawSql: q.rawSql });
    }
  };
  for (const p of d.panels ?? []) visit(p);
  return out;
}

/**
 * Grafana's `singlequote` format: each value quoted with ' and a ' inside escaped as \'
 * (https://grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax/#singlequote).
 */
function singleQuote(values: readonly string[]): string {
  return values.map((v) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(',');
}

/**
 * Replaces `${name:format}`, `${name}`, `[[name]]` and `$name` as Grafana's template service does
 * before the query leaves the browser. "All" becomes the variable's custom all value, which
 * Grafana inserts unformatted (grafana/grafana#49426). Only the formats the dashboards use
 * (singlequote, and none, which joins with commas) are supported; any other is an error.
 */
export function substituteVariables(sql: string, selections: Record<string, Selection>): string {
  const value = (name: string, format: string | undefined): string => {
    const sel = selections[name] ?? 'all';
    if (sel === 'all') return ALL_VALUE;
    if (format === 'singlequote') return singleQuote(sel);
    if (format === undefined) return sel.join(',');
    throw new Error(`variable format ${format} is not supported by the verifier`);
  };
  return sql
    .replace(/\$\{(\w+)(?::(\w+))?\}/g, (m, name: string, format: string | undefined) => (name.startsWith('__') ? m : value(name, format)))
    .replace(/\[\[(\w+)\]\]/g, (m, name: string) => (name.startsWith('__') ? m : value(name, undefined)))
    .replace(/\$(?!__)(\w+)/g, (_m, name: string) => value(name, undefined));
}

/** The argument list of a macro call starting at `open` (the index of its "("), split at top-level commas. */
function macroArgs(sql: string, open: number): { args: string[]; end: number } {
  let depth = 0;
  let current = '';
  const args: string[] = [];
  for (let i = open; i < sql.length; i++) {
    const c = sql[i] as string;
    if (c === '(') {
      depth++;
      if (depth === 1) continue;
    } else if (c === ')') {
      depth--;
      if (depth === 0) {
        if (current.trim() !== '' || args.length) args.push(current.trim());
        return { args, end: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  throw new Error(`unclosed macro call at ${open}`);
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);
const isoDate = (d: Date): string => d.toISOString().slice(0, 10);

/**
 * Expands the macros of grafana-clickhouse-datasource v4 exactly as its backend does
 * (pkg/macros/macros.go in grafana/clickhouse-datasource): times become `toDateTime(<unix s>)`,
 * millisecond variants `fromUnixTimestamp64Milli(<unix ms>)`, dates `toDate('YYYY-MM-DD')`, and
 * `$__timeInterval(c)` `toStartOfInterval(toDateTime(c), INTERVAL <s> second)` with the interval
 * at least one second. A macro the plugin does not know is an error, as it is in Grafana.
 */
export function expandMacros(sql: string, ctx: Pick<QueryContext, 'from' | 'to' | 'intervalMs'>): string {
  const from = seconds(ctx.from);
  const to = seconds(ctx.to);
  const fromMs = ctx.from.getTime();
  const toMs = ctx.to.getTime();
  const intervalS = Math.max(Math.floor(ctx.intervalMs / 1000), 1);
  const intervalMs = Math.max(Math.floor(ctx.intervalMs), 1);
  const one = (name: string, args: string[]): string => {
    if (args.length !== 1) throw new Error(`$__${name} expects 1 argument, got ${args.length}`);
    return args[0] as string;
  };
  const macros: Record<string, (args: string[]) => string> = {
    fromTime: () => `toDateTime(${from})`,
    toTime: () => `toDateTime(${to})`,
    fromTime_ms: () => `fromUnixTimestamp64Milli(${fromMs})`,
    toTime_ms: () => `fromUnixTimestamp64Milli(${toMs})`,
    timeFilter: (a) => {
      const c = one('timeFilter', a);
      return `${c} >= toDateTime(${from}) AND ${c} <= toDateTime(${to})`;
    },
    timeFilter_ms: (a) => {
      const c = one('timeFilter_ms', a);
      return `${c} >= fromUnixTimestamp64Milli(${fromMs}) AND ${c} <= fromUnixTimestamp64Milli(${toMs})`;
    },
    dateFilter: (a) => {
      const c = one('dateFilter', a);
      return `${c} >= toDate('${isoDate(ctx.from)}') AND ${c} <= toDate('${isoDate(ctx.to)}')`;
    },
    timeInterval: (a) => `toStartOfInterval(toDateTime(${one('timeInterval', a)}), INTERVAL ${intervalS} second)`,
    timeInterval_ms: (a) => `toStartOfInterval(toDateTime64(${one('timeInterval_ms', a)}, 3), INTERVAL ${intervalMs} millisecond)`,
    interval_s: () => String(intervalS),
  };
  const dateTime = (a: string[]): string => {
    if (a.length !== 2) throw new Error(`$__dateTimeFilter expects 2 arguments, got ${a.length}`);
    const [d, t] = a as [string, string];
    return `(${d} >= toDate('${isoDate(ctx.from)}') AND ${d} <= toDate('${isoDate(ctx.to)}')) AND (${t} >= toDateTime(${from}) AND ${t} <= toDateTime(${to}))`;
  };
  macros.dateTimeFilter = dateTime;
  macros.dt = dateTime;

  let out = '';
  let i = 0;
  const re = /\$__(\w+)/g;
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    const name = m[1] as string;
    const fn = macros[name];
    if (!fn) throw new Error(`unknown macro $__${name}`);
    out += sql.slice(i, m.index);
    const after = m.index + m[0].length;
    if (sql[after] === '(') {
      const { args, end } = macroArgs(sql, after);
      out += fn(args);
      i = end;
    } else {
      out += fn([]);
      i = after;
    }
    re.lastIndex = i;
  }
  return out + sql.slice(i);
}

/** The SQL the plugin would send to ClickHouse for `rawSql` under `ctx`. */
export function renderQuery(rawSql: string, ctx: QueryContext): string {
  return expandMacros(substituteVariables(rawSql, ctx.variables ?? {}), ctx);
}

export interface PanelResult extends PanelQuery {
  rows: number;
  error?: string;
}

/**
 * What a dashboard opens with: query variables at "All", free-text variables at their default
 * text. `ctx.variables` overrides these.
 */
export function defaultSelections(d: Dashboard): Record<string, Selection> {
  const out: Record<string, Selection> = {};
  for (const v of d.templating?.list ?? []) {
    if (v.type === 'textbox') out[v.name] = [typeof v.query === 'string' ? v.query : ''];
    else out[v.name] = 'all';
  }
  return out;
}

/** Runs every panel query of `dashboards` against `store` and counts the rows each returns. */
export async function runPanelQueries(store: Store, dashboards: readonly Dashboard[], ctx: QueryContext): Promise<PanelResult[]> {
  const results: PanelResult[] = [];
  for (const d of dashboards) {
    const dctx = { ...ctx, variables: { ...defaultSelections(d), ...ctx.variables } };
    for (const q of panelQueries(d)) {
      try {
        const rows = await store.query(renderQuery(q.rawSql, dctx));
        results.push({ ...q, rows: rows.length });
      } catch (e) {
        results.push({ ...q, rows: 0, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return results;
}

/** The SQL of every query variable of a dashboard, by variable name. */
export function variableQueries(d: Dashboard): { name: string; sql: string }[] {
  return (d.templating?.list ?? []).flatMap((v) => (v.type === 'query' && typeof v.query === 'string' ? [{ name: v.name, sql: v.query }] : []));
}
