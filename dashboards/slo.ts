import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { SLO_UID } from './uids.ts';
import { filterVariables, sloAttainmentSql, sloFilters, tablePanel, timeSeriesPanel, withPanelIds } from './panels.ts';

/** The SLO dashboard: attainment, error budget and burn rates per SLO. */
export function sloDashboard(): dashboard.Dashboard {
  const d = new dashboard.DashboardBuilder('keywatch / SLO')
    .uid(SLO_UID)
    .description('Attainment, error budget remaining and burn rate of every SLO, from slo_status.')
    .tags(['keywatch', 'slo'])
    .time({ from: 'now-30d', to: 'now' })
    .timezone('utc')
    .readonly()
    .variables(filterVariables())
    .withPanel(tablePanel({ title: 'SLO attainment and budget', description: 'Per SLO at its latest evaluation: objective, attainment over the SLO period, the lowest error budget left in any group and how many groups have a burn-rate alert firing.', sql: sloAttainmentSql(), w: 24 }))
    .withPanel(
      timeSeriesPanel({
        title: 'Error budget remaining',
        description: 'The lowest share of error budget left over the groups of each SLO (1 = untouched, 0 = spent, below 0 = overspent).',
        sql: `SELECT $__timeInterval(evaluated_time) AS time, slo, min(budget_remaining) AS budget_left
FROM slo_status FINAL
WHERE $__timeFilter(evaluated_time) AND budget_remaining IS NOT NULL AND ${sloFilters()}
GROUP BY time, slo
ORDER BY time`,
        unit: 'percentunit',
        w: 24,
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Burn rate per SLO and window',
        description: 'The highest burn rate over the groups of each SLO for each of its alert windows: 1 spends the budget exactly over the period.',
        sql: `SELECT $__timeInterval(evaluated_time) AS time, concat(slo, ' ', w) AS series, max(burn_rate[w]) AS burn
FROM slo_status FINAL
ARRAY JOIN mapKeys(burn_rate) AS w
WHERE $__timeFilter(evaluated_time) AND w != period AND ${sloFilters()}
GROUP BY time, series
ORDER BY time`,
        w: 24,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Burn rates now',
        description: 'Per SLO and window at the latest evaluation: the highest burn rate over the groups.',
        sql: `SELECT slo, w AS window, max(burn_rate[w]) AS burn
FROM slo_status FINAL
ARRAY JOIN mapKeys(burn_rate) AS w
WHERE (slo, evaluated_time) IN (
    SELECT slo, max(evaluated_time) FROM slo_status WHERE $__timeFilter(evaluated_time) GROUP BY slo)
  AND ${sloFilters()}
GROUP BY slo, w
ORDER BY slo, burn DESC`,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Groups by state',
        description: 'How many groups (keys, tenants, sources) of each SLO are in each state at the latest evaluation.',
        sql: `SELECT slo, state, count() AS groups
FROM slo_status FINAL
WHERE (slo, evaluated_time) IN (
    SELECT slo, max(evaluated_time) FROM slo_status WHERE $__timeFilter(evaluated_time) GROUP BY slo)
  AND ${sloFilters()}
GROUP BY slo, state
ORDER BY slo, state`,
      }),
    )
    .build();
  return withPanelIds(d);
}
