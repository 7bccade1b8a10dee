/** Queries the demo prints; each one surfaces an injected incident or the shape of the data. */
export const DEMO_QUERIES: { title: string; sql: string }[] = [
  {
    title: 'Events per tenant and operation class',
    sql: `SELECT tenant, operation_class, count() AS events, countIf(outcome = 'failure') AS failures
          FROM key_events GROUP BY tenant, operation_class ORDER BY tenant, events DESC`,
  },
  {
    title: 'Cross-account key use (the external decrypt burst)',
    sql: `SELECT principal, tenant, attributes['caller_account'] AS caller_account, source_ip, count() AS events,
                 min(event_time) AS first, max(event_time) AS last
          FROM key_events WHERE attributes['cross_account'] = 'true'
          GROUP BY principal, tenant, caller_account, source_ip ORDER BY events DESC LIMIT 5`,
  },
  {
    title: 'Destructive and policy operations',
    sql: `SELECT event_time, tenant, operation, vendor_operation, principal, splitByChar('/', key_id)[-1] AS key
          FROM key_events
          WHERE operation IN ('disable_key', 'schedule_deletion', 'delete_key_material', 'update_policy', 'import_key_material')
             OR (operation = 'create_grant' AND NOT startsWith(attributes['grantee_principal'], concat('arn:aws:iam::', account, ':')))
          ORDER BY event_time`,
  },
  {
    title: 'Failure spikes: errors per principal and 10-minute window',
    sql: `SELECT toStartOfTenMinutes(event_time) AS window, principal, error_code, count() AS failures
          FROM key_events WHERE outcome = 'failure'
          GROUP BY window, principal, error_code HAVING failures >= 20 ORDER BY failures DESC LIMIT 5`,
  },
];
