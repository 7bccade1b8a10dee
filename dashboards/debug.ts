import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { DEBUG_UID } from './uids.ts';
import { EVENT_FILTERS, filterVariables, filters, tablePanel, textFilter, textVariable, withPanelIds } from './panels.ts';

const events = `${filters(EVENT_FILTERS)} AND ${textFilter('principal', 'principal')}`;

/**
 * The debug dashboard: follow one key or principal through its events. The On-call dashboard
 * links here with the key or principal filled in.
 */
export function debugDashboard(): dashboard.Dashboard {
  const d = new dashboard.DashboardBuilder('keywatch / Debug')
    .uid(DEBUG_UID)
    .description('The failed-decrypt path of a key or principal, the audit event stream, policy and IAM changes, probe results and data-completeness problems.')
    .tags(['keywatch', 'debug'])
    .time({ from: 'now-7d', to: 'now' })
    .timezone('utc')
    .readonly()
    .variables([...filterVariables(), textVariable('principal', 'Principal')])
    .withPanel(
      tablePanel({
        title: 'Failed-decrypt path',
        description: 'Failed decrypt and unwrap calls, and the lifecycle and policy changes of the same keys in the range, in time order: what happened to the key before its decrypts started to fail.',
        sql: `SELECT event_time, tenant, key_id, key_version, operation, outcome, error_code, principal, source_ip, user_agent, request_id
FROM key_events
WHERE $__timeFilter(event_time) AND ${events}
  AND ((operation IN ('decrypt', 'unwrap') AND outcome = 'failure')
    OR (operation_class IN ('lifecycle', 'policy') AND key_id IN (
      SELECT key_id FROM key_events
      WHERE $__timeFilter(event_time) AND operation IN ('decrypt', 'unwrap') AND outcome = 'failure' AND ${events})))
ORDER BY event_time
LIMIT 500`,
        w: 24,
        h: 10,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Audit event stream',
        description: 'Every normalized key event under the filters, newest first.',
        sql: `SELECT event_time, source, tenant, account, region, key_id, operation, vendor_operation, outcome, error_code, principal, source_ip, latency_ms, event_id
FROM key_events
WHERE $__timeFilter(event_time) AND ${events}
ORDER BY event_time DESC
LIMIT 1000`,
        w: 24,
        h: 12,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Policy and IAM changes',
        description: 'Key policy, grant and IAM-binding changes and HSM user administration, newest first.',
        sql: `SELECT event_time, source, tenant, key_id, operation, vendor_operation, outcome, principal, source_ip
FROM key_events
WHERE $__timeFilter(event_time) AND operation_class IN ('policy', 'admin') AND ${events}
ORDER BY event_time DESC
LIMIT 500`,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Probe results',
        description: "keywatch's synthetic probe calls per key and operation: calls, failures and latency.",
        sql: `SELECT key_id, operation, count() AS calls, countIf(outcome = 'failure') AS failures,
  round(quantile(0.5)(latency_ms), 2) AS p50_ms, round(quantile(0.95)(latency_ms), 2) AS p95_ms, max(event_time) AS last_probe
FROM key_events
WHERE $__timeFilter(event_time) AND source = 'pkcs11-probe' AND ${events}
GROUP BY key_id, operation
ORDER BY failures DESC, key_id
LIMIT 500`,
      }),
    )
    .withPanel(
      tablePanel({
        title: 'Quarantine and coverage gaps',
        description: 'What the store is missing: quarantined records by reason, keys with admin activity but no logged use (coverage_gaps), and audit sequence gaps of the HSMs (audit_integrity).',
        sql: `SELECT * FROM (
SELECT 'quarantine' AS kind, source, '' AS tenant, reason AS what, concat(toString(count()), ' record(s)') AS detail, max(quarantine_time) AS time
FROM quarantine
WHERE $__timeFilter(quarantine_time) AND ${filters({ source: 'source' })}
GROUP BY source, reason
UNION ALL
SELECT 'coverage gap', source, tenant, reason, concat(key_id, ': ', hint), evaluated_time
FROM coverage_gaps FINAL
WHERE ${filters({ tenant: 'tenant', source: 'source', key: 'key_id' })}
UNION ALL
SELECT kind, source, tenant, stream, detail, detected_time
FROM audit_integrity FINAL
WHERE ${filters({ tenant: 'tenant', source: 'source' })}
)
ORDER BY time DESC
LIMIT 500`,
        w: 24,
      }),
    )
    .build();
  return withPanelIds(d);
}
