import * as common from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as BarChartPanel } from '@grafana/grafana-foundation-sdk/barchart';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as HeatmapPanel } from '@grafana/grafana-foundation-sdk/heatmap';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { CLICKHOUSE_DATASOURCE, ClickHouseSqlQueryBuilder } from './clickhouse-query.ts';

/** The template variables every dashboard offers, in the order they appear. */
export const FILTER_VARIABLES = ['tenant', 'source', 'region', 'key'] as const;
export type FilterVariable = (typeof FILTER_VARIABLES)[number];

/**
 * The value Grafana puts in the SQL when "All" is selected. Grafana inserts a custom all value
 * as it is, without applying the `:singlequote` format (TemplateSrv skips formatting of custom
 * all values; grafana/grafana#49426), so it carries its own quotes and reads as a string literal
 * in `IN (...)`.
 */
export const ALL_VALUE = "'__all'";

/**
 * SQL condition for one multi-value variable: true when "All" is selected, else `column` is one of
 * the chosen values. Example: `filter('tenant', 'tenant')` gives
 * `('__all' IN (${tenant:singlequote}) OR tenant IN (${tenant:singlequote}))`.
 */
export function filter(variable: FilterVariable, column: string): string {
  const v = `\${${variable}:singlequote}`;
  return `('__all' IN (${v}) OR ${column} IN (${v}))`;
}

/** The conditions for the variables a table has columns for, joined with AND. */
export function filters(columns: Partial<Record<FilterVariable, string>>): string {
  const parts = FILTER_VARIABLES.flatMap((v) => (columns[v] ? [filter(v, columns[v])] : []));
  return parts.length ? parts.join(' AND ') : '1';
}

/** key_events column names of the four variables. */
export const EVENT_FILTERS = { tenant: 'tenant', source: 'source', region: 'region', key: 'key_id' } as const;

function variable(name: FilterVariable, label: string, sql: string): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(CLICKHOUSE_DATASOURCE)
    .query(sql)
    .definition(sql)
    .multi(true)
    .includeAll(true)
    .allValue(ALL_VALUE)
    .current({ text: 'All', value: '$__all' })
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

/**
 * tenant, source, region and key, each drawn from key_events and narrowed by the ones before it
 * (a region list only shows regions of the chosen tenants and sources).
 */
export function filterVariables(): dashboard.QueryVariableBuilder[] {
  return [
    variable('tenant', 'Tenant', 'SELECT DISTINCT tenant FROM key_events ORDER BY tenant'),
    variable('source', 'Source', `SELECT DISTINCT source FROM key_events WHERE ${filters({ tenant: 'tenant' })} ORDER BY source`),
    variable('region', 'Region', `SELECT DISTINCT region FROM key_events WHERE ${filters({ tenant: 'tenant', source: 'source' })} ORDER BY region`),
    variable('key', 'Key', `SELECT DISTINCT key_id FROM key_events WHERE ${filters({ tenant: 'tenant', source: 'source', region: 'region' })} ORDER BY key_id LIMIT 1000`),
  ];
}

interface PanelSpec {
  title: string;
  description: string;
  sql: string;
  /** Grid width in columns of 24 and height in rows. */
  w?: number;
  h?: number;
}

export function tablePanel(p: PanelSpec): TablePanel {
  return new TablePanel()
    .title(p.title)
    .description(p.description)
    .datasource(CLICKHOUSE_DATASOURCE)
    .withTarget(new ClickHouseSqlQueryBuilder(p.sql, 'table'))
    .span(p.w ?? 12)
    .height(p.h ?? 8);
}

export function timeSeriesPanel(p: PanelSpec & { unit?: string }): TimeSeriesPanel {
  return new TimeSeriesPanel()
    .title(p.title)
    .description(p.description)
    .datasource(CLICKHOUSE_DATASOURCE)
    .withTarget(new ClickHouseSqlQueryBuilder(p.sql, 'timeSeries'))
    .unit(p.unit ?? 'short')
    .span(p.w ?? 12)
    .height(p.h ?? 8);
}

export function statPanel(p: PanelSpec & { unit?: string }): StatPanel {
  return new StatPanel()
    .title(p.title)
    .description(p.description)
    .datasource(CLICKHOUSE_DATASOURCE)
    .withTarget(new ClickHouseSqlQueryBuilder(p.sql, 'table'))
    .unit(p.unit ?? 'short')
    .span(p.w ?? 6)
    .height(p.h ?? 4);
}

/** A heatmap whose rows are the query's series (one per value of its label column), not buckets it computes. */
export function seriesHeatmapPanel(p: PanelSpec & { unit?: string }): HeatmapPanel {
  return new HeatmapPanel()
    .title(p.title)
    .description(p.description)
    .datasource(CLICKHOUSE_DATASOURCE)
    .withTarget(new ClickHouseSqlQueryBuilder(p.sql, 'timeSeries'))
    .calculate(false)
    .unit(p.unit ?? 'short')
    .span(p.w ?? 24)
    .height(p.h ?? 9);
}

/** A data link that opens another keywatch dashboard with the row's key and principal as filters. */
export function drillDownLink(title: string, dashboardUid: string, params: string): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder(title).url(`/d/${dashboardUid}?\${__url_time_range}&${params}`).targetBlank(false);
}

/**
 * Numbers the panels 1..n in layout order. The SDK leaves ids unset, and Grafana needs them
 * unique (panel links and `viewPanel=` use them); numbering by position keeps them stable
 * across builds.
 */
export function withPanelIds(d: dashboard.Dashboard): dashboard.Dashboard {
  let id = 0;
  for (const p of d.panels ?? []) {
    p.id = ++id;
    if (p.type === 'row') for (const inner of (p as dashboard.RowPanel).panels ?? []) inner.id = ++id;
  }
  return d;
}

/**
 * A free-text variable; empty means no filter. Used as `${name:singlequote}`, which Grafana
 * renders as '' when the box is empty.
 */
export function textVariable(name: string, label: string): dashboard.TextBoxVariableBuilder {
  return new dashboard.TextBoxVariableBuilder(name).label(label).defaultValue('').current({ text: '', value: '' });
}

/** SQL condition for a free-text variable: true when it is empty, else `column` equals it. */
export function textFilter(name: string, column: string): string {
  const v = `\${${name}:singlequote}`;
  return `(${v} = '' OR ${column} = ${v})`;
}

/** Rows of slo_status with an empty group column are aggregates over it, so they stay under any filter. */
export function sloFilters(): string {
  return (
    [
      ['tenant', 'tenant'],
      ['source', 'source'],
      ['region', 'region'],
      ['key', 'key_id'],
    ] as const
  )
    .map(([v, c]) => `(${c} = '' OR ${filter(v, c)})`)
    .join(' AND ');
}

/** The detector id under which the SLO engine writes its alerts; every other detector is a security detector. */
export const SLO_ALERT_DETECTOR = 'slo-burn-rate';

export function barChartPanel(p: PanelSpec & { unit?: string; stacked?: boolean }): BarChartPanel {
  const b = new BarChartPanel()
    .title(p.title)
    .description(p.description)
    .datasource(CLICKHOUSE_DATASOURCE)
    .withTarget(new ClickHouseSqlQueryBuilder(p.sql, 'table'))
    .unit(p.unit ?? 'short')
    .span(p.w ?? 12)
    .height(p.h ?? 8);
  return p.stacked ? b.stacking(common.StackingMode.Normal) : b;
}

/**
 * Per SLO at its latest evaluation in the range: objective, attainment over the SLO period
 * (good / total events of the period window summed over the groups) and the lowest error budget
 * left in any group.
 */
export function sloAttainmentSql(): string {
  return `SELECT slo, any(display_name) AS name, any(period) AS slo_period, any(objective) AS objective,
  sum(good[period]) / nullIf(sum(total[period]), 0) AS attainment,
  min(budget_remaining) AS lowest_budget_remaining,
  countIf(length(firing) > 0) AS groups_firing
FROM slo_status FINAL
WHERE (slo, evaluated_time) IN (
    SELECT slo, max(evaluated_time) FROM slo_status WHERE $__timeFilter(evaluated_time) GROUP BY slo)
  AND ${sloFilters()}
GROUP BY slo
ORDER BY slo`;
}
