import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { EXECUTIVE_UID } from './uids.ts';
import { barChartPanel, EVENT_FILTERS, filterVariables, filters, SLO_ALERT_DETECTOR, sloAttainmentSql, statPanel, tablePanel, timeSeriesPanel, withPanelIds } from './panels.ts';

const events = filters(EVENT_FILTERS);
const alertFilters = filters({ tenant: 'tenant', key: 'key_id' });

/** Detectors whose open alert means a key's rotation is stale. */
const STALE_ROTATION_DETECTORS = "'rotation-overdue', 'rotation-disabled', 'byok-material-not-reimported'";

const severityCounts = "countIf(severity = 'critical') AS critical, countIf(severity = 'high') AS high, countIf(severity = 'medium') AS medium, countIf(severity = 'low') AS low";

/** The executive dashboard: the few numbers a reviewer asks about first. */
export function executiveDashboard(): dashboard.Dashboard {
  const d = new dashboard.DashboardBuilder('keywatch / Executive')
    .uid(EXECUTIVE_UID)
    .description('Key-operation success, incidents, stale rotation, security alerts and SLO attainment.')
    .tags(['keywatch', 'executive'])
    .time({ from: 'now-90d', to: 'now' })
    .timezone('utc')
    .readonly()
    .variables(filterVariables())
    .withPanel(
      statPanel({
        title: 'Key operation success rate',
        description: 'Share of cryptographic operations (encrypt, decrypt, sign, wrap ...) that succeeded in the range.',
        sql: `SELECT countIf(outcome = 'success') / count() AS success_rate
FROM key_events
WHERE $__timeFilter(event_time) AND operation_class = 'crypto' AND ${events}`,
        unit: 'percentunit',
      }),
    )
    .withPanel(
      statPanel({
        title: 'Keys with stale rotation',
        description: 'Share of the keys seen in the range that have an open rotation-overdue, rotation-disabled or BYOK-material-not-reimported alert.',
        sql: `SELECT
  (SELECT uniqExact(key_id) FROM alerts FINAL
    WHERE detector IN (${STALE_ROTATION_DETECTORS}) AND status = 'open' AND ${alertFilters})
  / greatest((SELECT uniqExact(key_id) FROM key_events WHERE $__timeFilter(event_time) AND ${events}), 1) AS stale_share`,
        unit: 'percentunit',
      }),
    )
    .withPanel(
      timeSeriesPanel({
        title: 'Key operation success rate over time',
        description: 'Share of cryptographic operations that succeeded, per interval.',
        sql: `SELECT $__timeInterval(event_time) AS time, countIf(outcome = 'success') / count() AS success_rate
FROM key_events
WHERE $__timeFilter(event_time) AND operation_class = 'crypto' AND ${events}
GROUP BY time
ORDER BY time`,
        unit: 'percentunit',
      }),
    )
    .withPanel(
      barChartPanel({
        title: 'Incidents by severity per month',
        description: 'Incidents are the alerts of the SLO engine (an error budget burning too fast), suppressed ones left out, by the month they began.',
        sql: `SELECT formatDateTime(toStartOfMonth(first_time), '%Y-%m') AS month, ${severityCounts}
FROM alerts FINAL
WHERE detector = '${SLO_ALERT_DETECTOR}' AND status != 'suppressed' AND $__timeFilter(first_time) AND ${alertFilters}
GROUP BY month
ORDER BY month`,
        stacked: true,
      }),
    )
    .withPanel(
      barChartPanel({
        title: 'Security alerts by severity',
        description: 'Alerts of the security detectors (everything but the SLO engine) that began in the range, suppressed ones left out.',
        sql: `SELECT severity, count() AS alerts
FROM alerts FINAL
WHERE detector != '${SLO_ALERT_DETECTOR}' AND status != 'suppressed' AND $__timeFilter(first_time) AND ${alertFilters}
GROUP BY severity
ORDER BY indexOf(['critical', 'high', 'medium', 'low', 'info'], severity)`,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'SLO attainment',
        description: 'Per SLO at its latest evaluation: objective, attainment over the SLO period and the lowest error budget left in any group.',
        sql: sloAttainmentSql(),
        w: 24,
      }),
    )
    .build();
  return withPanelIds(d);
}
