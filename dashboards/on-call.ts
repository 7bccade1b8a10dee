import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { DEBUG_UID, ON_CALL_UID } from './uids.ts';
import { drillDownLink, EVENT_FILTERS, filter, filterVariables, filters, seriesHeatmapPanel, sloFilters, tablePanel, timeSeriesPanel, withPanelIds } from './panels.ts';

const events = filters(EVENT_FILTERS);

/** What the calling service is: the AWS service principal that called on a user's behalf, else the client's user agent. */
const SERVICE = "if(attributes['invoked_by'] != '', attributes['invoked_by'], user_agent)";

/** Rotation detectors whose alerts mean a rotation that should have happened did not. */
const ROTATION_DETECTORS = "'rotation-overdue', 'rotation-disabled', 'byok-material-not-reimported', 'old-version-after-rotation'";

/**
 * The on-call dashboard: what is failing now and for whom, how slow each region is, the open
 * alerts with their runbooks, rotations, and how fast the SLO error budgets burn.
 */
export function onCallDashboard(): dashboard.Dashboard {
  const d = new dashboard.DashboardBuilder('keywatch / On-call')
    .uid(ON_CALL_UID)
    .description('Live key-operation failures, latency by region, open alerts with runbooks, rotations and SLO burn rates.')
    .tags(['keywatch', 'on-call'])
    .time({ from: 'now-24h', to: 'now' })
    .timezone('utc')
    .refresh('1m')
    .readonly()
    .variables(filterVariables())
    .withRow(new dashboard.RowBuilder('Failures'))
    .withPanel(
      timeSeriesPanel({
        title: 'Failures by key',
        description: 'Failed key operations per interval for the ten keys with the most failures in the range.',
        sql: `SELECT $__timeInterval(event_time) AS time, key_id, count() AS failures
FROM key_events
WHERE $__timeFilter(event_time) AND outcome = 'failure' AND ${events}
  AND key_id IN (
    SELECT key_id FROM key_events
    WHERE $__timeFilter(event_time) AND outcome = 'failure' AND ${events}
    GROUP BY key_id ORDER BY count() DESC LIMIT 10)
GROUP BY time, key_id
ORDER BY time`,
        w: 24,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Failures by principal',
        description: 'Who is failing: failed operations per principal, the keys and error codes involved.',
        sql: `SELECT principal, any(principal_type) AS principal_type, count() AS failures,
  uniqExact(key_id) AS keys, arrayStringConcat(groupUniqArray(5)(error_code), ', ') AS error_codes,
  max(event_time) AS last_failure
FROM key_events
WHERE $__timeFilter(event_time) AND outcome = 'failure' AND ${events}
GROUP BY principal
ORDER BY failures DESC
LIMIT 50`,
      }).dataLinks([drillDownLink('Failed-decrypt path of this principal', DEBUG_UID, 'var-principal=${__data.fields.principal}')]),
    )
    .withPanel(
      tablePanel({
        title: 'Failures by service',
        description: 'Failed operations per calling service: the AWS service principal (invokedBy) when a service called on a user\'s behalf, else the client user agent.',
        sql: `SELECT ${SERVICE} AS service, count() AS failures, uniqExact(principal) AS principals,
  uniqExact(key_id) AS keys, max(event_time) AS last_failure
FROM key_events
WHERE $__timeFilter(event_time) AND outcome = 'failure' AND ${events}
GROUP BY service
ORDER BY failures DESC
LIMIT 50`,
      }),
    )
    .withRow(new dashboard.RowBuilder('Latency'))
    .withPanel(
      seriesHeatmapPanel({
        title: 'Key-operation latency by region (p95)',
        description: 'The 95th percentile latency of cryptographic operations per region and interval; a hot row is a slow region.',
        sql: `SELECT $__timeInterval(event_time) AS time, region, quantile(0.95)(latency_ms) AS p95_ms
FROM key_events
WHERE $__timeFilter(event_time) AND latency_ms IS NOT NULL AND operation_class = 'crypto' AND ${events}
GROUP BY time, region
ORDER BY time`,
        unit: 'ms',
      }),
    )
    .withRow(new dashboard.RowBuilder('Alerts and rotations'))
    .withPanel(
      tablePanel({
        title: 'Active alerts',
        description: 'Open alerts of the detectors and the SLO engine, most severe first, with the runbook of each. The link opens the Debug dashboard on the alert\'s key.',
        sql: `SELECT detected_time, severity, detector, title, tenant, key_id, principal, event_count, runbook
FROM alerts FINAL
WHERE status = 'open' AND ${filters({ tenant: 'tenant', key: 'key_id' })}
ORDER BY indexOf(['critical', 'high', 'medium', 'low', 'info'], severity), detected_time DESC
LIMIT 200`,
        w: 24,
        h: 10,
      }).dataLinks([drillDownLink('Debug this key', DEBUG_UID, 'var-key=${__data.fields.key_id}')]),
    )
    .withPanel(
      tablePanel({
        title: 'Recent rotations',
        description: 'Key rotations and key-material imports (a BYOK rotation is a re-import) in the range, newest first.',
        sql: `SELECT event_time, tenant, source, region, key_id, operation, outcome, error_code, principal
FROM key_events
WHERE $__timeFilter(event_time) AND operation IN ('rotate_key', 'import_key_material') AND ${events}
ORDER BY event_time DESC
LIMIT 200`,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Failed and missed rotations',
        description: 'Rotation or import calls that failed, and open rotation alerts (overdue, disabled, BYOK material not re-imported, old version still in use).',
        sql: `SELECT event_time AS time, tenant, key_id, concat('failed ', operation) AS what, error_code AS detail
FROM key_events
WHERE $__timeFilter(event_time) AND operation IN ('rotate_key', 'import_key_material') AND outcome = 'failure' AND ${events}
UNION ALL
SELECT detected_time AS time, tenant, key_id, detector AS what, title AS detail
FROM alerts FINAL
WHERE detector IN (${ROTATION_DETECTORS}) AND status = 'open' AND ${filters({ tenant: 'tenant', key: 'key_id' })}
ORDER BY time DESC
LIMIT 200`,
      }),
    )
    .withRow(new dashboard.RowBuilder('SLO burn'))
    .withPanel(
      timeSeriesPanel({
        title: 'Burn rate per SLO (1h window)',
        description: 'The highest one-hour burn rate over the groups of each SLO: 1 spends the error budget exactly over the SLO period, 14.4 is the page threshold of the SRE workbook.',
        sql: `SELECT evaluated_time AS time, slo, max(burn_rate['1h']) AS burn
FROM slo_status FINAL
WHERE $__timeFilter(evaluated_time) AND mapContains(burn_rate, '1h') AND ${sloFilters()}
GROUP BY time, slo
ORDER BY time`,
        w: 24,
      }),
    )
    .build();
  return withPanelIds(d);
}
