import { z } from 'zod';
import type { Detector, Finding } from './detector.ts';

// Operations that destroy keys or their protection, hand out key material, or change HSM users
// and configuration: high severity off hours. Everything else in the classes is medium.
const HIGH_OPERATIONS = ['disable_key', 'schedule_deletion', 'destroy_version', 'delete_key_material', 'export_key', 'disable_rotation'] as const;
// One alert per principal per this many minutes: a night's work is one or two alerts.
const DEDUPE_MINUTES = 720;

/** `regularDays` of off-hours work on the same operation in the `baselineDays` before make it routine; 0 turns that off. */
const Settings = z
  .object({ baselineDays: z.number().int().min(1).max(90).default(7), regularDays: z.number().int().min(0).max(90).default(3) })
  .strict();

interface Row {
  tenant: string;
  principal: string;
  ptype: string;
  first: string;
  last: string;
  first_local: string;
  n: string;
  ids: string[];
  ops: string[];
  vops: string[];
  op_classes: string[];
  keys: string[];
  key_count: string;
  srcs: string[];
  ips: string[];
  failures: string;
  high: number | string;
}

export const adminOffHours: Detector = {
  settings: Settings,
  id: 'admin-off-hours',
  title: 'Key administration outside business hours',
  severity: 'medium',
  description:
    'A principal performed administrative, policy or lifecycle operations on keys, vaults or HSMs (key policy and IAM changes, grants, Vault ACL policies, key creation, rotation settings, disable and deletion, export and backup, HSM users, audit device changes) outside business hours (`detect.businessHours`: hours, weekdays and UTC offset). Change work on key infrastructure is planned and done in office hours; at night or at the weekend it is an incident, a forgotten automation, or an intruder who hopes nobody watches. Provider-internal callers and scheduled service actions (Azure KeyRotateIfDue, AWS automatic RotateKey, Key Vault Event Grid notifications) are left out, as are CloudHSM key entries, which name no user: key generation and destruction by the crypto users\' applications and the cluster\'s masked-object synchronisation (CloudHSM user management still counts). One alert per principal per 12 hours, listing every operation and key; high severity when it includes destructive or administrative operations (disable, deletion, destruction, deletion of imported material, export, disabling rotation, HSM users and configuration).',
  runbook:
    'Check for a change ticket, an incident or a maintenance window that covers the time (first_local_time in the evidence is in the configured business-hours offset). Ask the principal\'s owner, or the team owning the automation, whether they did it. If nobody did: revert the changes (restore the key policy or IAM binding, revoke the grant, cancel the deletion, re-enable the key or audit device), revoke the principal\'s sessions and credentials, and review its other activity (keywatch sql "SELECT * FROM key_events WHERE principal = \'<principal>\' ORDER BY event_time DESC LIMIT 200"). Recurring automation belongs in the allow-list with its principal.',
  references: [
    'https://attack.mitre.org/techniques/T1098/',
    'https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html',
    'https://cloud.google.com/kms/docs/audit-logging',
    'https://developer.hashicorp.com/vault/docs/audit',
    'Microsoft Sentinel: CyberArk - High-Risk Actions Outside Business Hours',
  ],
  falsePositives: [
    'Automation on a schedule: the same operation by the same principal off-hours on `regularDays` (3) of the `baselineDays` (7) before is treated as routine and left out; a new job alerts on its first nights',
    'Infrastructure-as-code pipelines and scheduled jobs running at night (allow-list their principals)',
    'On-call engineers working an incident, and teams in other time zones than the configured offset',
    'Planned maintenance at night (declare a maintenance window)',
    'Not seen: CloudHSM keys generated, destroyed or copied at night, since those audit entries name no user; user management on the HSM is seen',
  ],
  dedupeMinutes: DEDUPE_MINUTES,
  async run(ctx) {
    const bh = ctx.config.businessHours;
    const settings = Settings.parse(ctx.settings);
    // Outside business hours, in the configured offset (hours that wrap past midnight too).
    const local = 'addMinutes(event_time, {ah_offset:Int32})';
    const offHours = `NOT (has({ah_days:Array(UInt8)}, toDayOfWeek(${local}))
           AND if({ah_start:UInt8} < {ah_end:UInt8},
                  toHour(${local}) >= {ah_start:UInt8} AND toHour(${local}) < {ah_end:UInt8},
                  toHour(${local}) >= {ah_start:UInt8} OR toHour(${local}) < {ah_end:UInt8}))`;
    const candidates = `operation_class IN ('admin', 'policy', 'lifecycle') AND (${ctx.notInternal})
         -- Scheduled actions of the service itself, also when internal callers are included.
         AND attributes['scheduled'] != 'true' AND attributes['event_type'] != 'AwsServiceEvent'
         AND NOT endsWith(vendor_operation, 'EventGridNotification')
         -- CloudHSM key entries name no user: key generation, destruction and the cluster's own
         -- masked-object synchronisation are the crypto users' applications at work, not
         -- administration; user management (class admin) names its target and still counts.
         AND NOT (source = 'aws-cloudhsm' AND operation_class = 'lifecycle' AND principal = '')
         AND ${offHours}`;
    const rows = await ctx.store.query<Row>(
      `SELECT tenant, principal, any(principal_type) AS ptype,
              toString(min(event_time)) AS first, toString(max(event_time)) AS last,
              toString(addMinutes(min(event_time), {ah_offset:Int32})) AS first_local, count() AS n,
              arraySlice(groupArray(event_id), 1, 20) AS ids, groupUniqArray(operation) AS ops, groupUniqArray(vendor_operation) AS vops,
              groupUniqArray(operation_class) AS op_classes, arraySlice(groupUniqArrayIf(key_id, key_id != ''), 1, 20) AS keys,
              uniqExactIf(key_id, key_id != '') AS key_count, groupUniqArray(source) AS srcs,
              arraySlice(groupUniqArrayIf(source_ip, source_ip != ''), 1, 10) AS ips, countIf(outcome = 'failure') AS failures,
              max(operation_class = 'admin' OR operation IN {ah_high:Array(String)}) AS high
       FROM
       (
         SELECT e.*, arrayCount(d -> d >= toDate(e.event_time) - {ah_baseline:UInt16} AND d < toDate(e.event_time), h.days) AS prior_days
         FROM
         (
           SELECT tenant, principal, principal_type, event_time, event_id, operation, vendor_operation, operation_class, key_id, source, source_ip, outcome
           FROM key_events WHERE (${ctx.scope.sql}) AND ${candidates}
         ) AS e
         LEFT JOIN
         (
           -- Routine night work: the same operation by the same principal off-hours on earlier days
           -- (a nightly rotation job, scheduled HSM backups) is its schedule, not news.
           SELECT tenant, principal, operation, groupUniqArray(toDate(event_time)) AS days
           FROM key_events
           WHERE event_time >= {ah_from:DateTime64(3)} - INTERVAL {ah_baseline:UInt16} DAY AND event_time < {ah_to:DateTime64(3)} AND ${candidates}
           GROUP BY tenant, principal, operation
         ) AS h ON e.tenant = h.tenant AND e.principal = h.principal AND e.operation = h.operation
       )
       -- Whether work is routine needs the days before it: events in the first baselineDays of the
       -- store's history are not judged (a new deployment does not page on what it sees first).
       WHERE prior_days < {ah_regular:UInt16}
         AND event_time >= (SELECT min(event_time) FROM key_events) + INTERVAL {ah_baseline:UInt16} DAY
       -- One finding per dedupe bucket, so that each is one alert whatever the run's span.
       GROUP BY tenant, principal, intDiv(toUnixTimestamp(event_time), {ah_bucket:UInt32})
       ORDER BY first`,
      {
        ...ctx.scope.params,
        ah_offset: bh.utcOffsetMinutes,
        ah_start: bh.start,
        ah_end: bh.end,
        ah_days: bh.days,
        ah_high: [...HIGH_OPERATIONS],
        ah_bucket: DEDUPE_MINUTES * 60,
        ah_baseline: settings.baselineDays,
        ah_regular: settings.regularDays === 0 ? 65535 : settings.regularDays,
        ah_from: ctx.scope.from.toISOString().replace('T', ' ').replace('Z', ''),
        ah_to: ctx.scope.to.toISOString().replace('T', ' ').replace('Z', ''),
      },
    );
    return rows.map((r): Finding => {
      const high = Number(r.high) === 1;
      const who = r.principal === '' ? 'an unidentified principal' : r.principal;
      const keyCount = Number(r.key_count);
      return {
        tenant: r.tenant,
        // One alert per principal: the keys are in the evidence.
        key_id: '',
        principal: r.principal,
        first_time: r.first,
        last_time: r.last,
        score: high ? 75 : 55,
        severity: high ? 'high' : 'medium',
        event_count: Number(r.n),
        event_ids: r.ids,
        evidence: {
          first_local_time: r.first_local,
          utc_offset_minutes: bh.utcOffsetMinutes,
          business_hours: `${bh.start}-${bh.end} on days ${bh.days.join(',')}`,
          principal_type: r.ptype,
          operations: [...r.ops].sort().join(','),
          vendor_operations: [...r.vops].sort().join(','),
          operation_classes: [...r.op_classes].sort().join(','),
          keys: [...r.keys].sort().join(','),
          key_count: keyCount,
          sources: [...r.srcs].sort().join(','),
          source_ips: [...r.ips].sort().join(','),
          failures: Number(r.failures),
        },
        title: `Key administration by ${who} outside business hours: ${[...r.ops].sort().slice(0, 3).join(', ')}${r.ops.length > 3 ? ' ...' : ''}`,
      };
    });
  },
};
