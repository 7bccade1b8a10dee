/** Queries the demo prints; each one surfaces an injected incident or the shape of the data. */
export const DEMO_QUERIES: { title: string; sql: string }[] = [
  {
    title: 'Events per source and tenant',
    sql: `SELECT source, tenant, count() AS events, countIf(operation_class = 'crypto') AS key_use, countIf(outcome = 'failure') AS failures
          FROM key_events GROUP BY source, tenant ORDER BY source, tenant`,
  },
  {
    title: 'Cross-account key use (the external decrypt burst)',
    sql: `SELECT principal, tenant, attributes['caller_account'] AS caller_account, source_ip, count() AS events,
                 min(event_time) AS first, max(event_time) AS last
          FROM key_events WHERE attributes['cross_account'] = 'true'
          GROUP BY principal, tenant, caller_account, source_ip ORDER BY events DESC LIMIT 5`,
  },
  {
    title: 'Destructive, export, policy and HSM admin operations, every source',
    sql: `SELECT source, operation, count() AS events, uniqExact(principal) AS principals, max(event_time) AS last
          FROM key_events
          WHERE operation IN ('disable_key', 'schedule_deletion', 'destroy_version', 'delete_key_material', 'update_policy',
                              'import_key_material', 'export_key', 'backup_key', 'create_user', 'delete_user', 'update_user')
          GROUP BY source, operation ORDER BY source, events DESC`,
  },
  {
    title: 'Failure spikes: errors per source, principal and 10-minute window',
    sql: `SELECT toStartOfTenMinutes(event_time) AS window, source, principal, error_code, count() AS failures
          FROM key_events WHERE outcome = 'failure'
          GROUP BY window, source, principal, error_code HAVING failures >= 20 ORDER BY failures DESC LIMIT 8`,
  },
  {
    title: 'Alerts by detector and severity',
    sql: `SELECT detector, severity, count() AS alerts, sum(event_count) AS events, min(first_time) AS first, max(last_time) AS last
          FROM alerts FINAL WHERE status = 'open' GROUP BY detector, severity ORDER BY detector, severity`,
  },
  {
    title: 'Audit-log integrity findings (HSM sequence gaps)',
    sql: `SELECT source, stream, kind, epoch, from_position, to_position, missing, before_time, after_time
          FROM audit_integrity FINAL ORDER BY before_time`,
  },
  {
    title: 'Coverage gaps: keys with admin activity but no logged use',
    sql: `SELECT source, tenant, account, key_id, admin_events, reason FROM coverage_gaps ORDER BY source, tenant, key_id LIMIT 20`,
  },
];
