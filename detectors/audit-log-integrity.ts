import type { Detector, Finding } from './detector.ts';

// A gap this large is not a dropped packet: a whole stretch of the HSM's log is missing.
const LARGE_GAP = 100;
const RESETS = ['sequence_reset', 'reboot_counter_reset'];

interface IntegrityRow {
  tenant: string;
  source: string;
  stream: string;
  kind: string;
  epoch: string;
  from_position: string;
  to_position: string;
  missing: string;
  first: string;
  last: string;
  detected: string;
  before_event_id: string;
  after_event_id: string;
  detail: string;
}

function titleOf(r: IntegrityRow, missing: number): string {
  const where = `${r.source === 'luna-hsm' ? 'Luna HSM' : r.source === 'aws-cloudhsm' ? 'CloudHSM' : r.source} ${r.stream}`;
  if (r.kind === 'sequence_gap') return `${missing} audit record${missing === 1 ? '' : 's'} missing from ${where}`;
  if (r.kind === 'sequence_reset') return `Audit record numbering restarted on ${where}`;
  if (r.kind === 'reboot_counter_reset') return `HSM reboot counter went backwards on ${where}`;
  return `Audit log integrity finding (${r.kind}) on ${where}`;
}

export const auditLogIntegrity: Detector = {
  id: 'audit-log-integrity',
  title: 'HSM audit log records missing or renumbered',
  severity: 'high',
  description:
    `An HSM's own audit log shows records that never reached keywatch, or a numbering that started over: a gap in the sequence numbers of a CloudHSM stream (within one reboot counter, or at the start of a new one) or of a Luna HSM, a CloudHSM Sequence No that went back without a reboot, or a reboot counter that went backwards. These are the integrity findings the ingest writes to audit_integrity after each run (ingest/aws-cloudhsm/sequence-gaps.ts, ingest/luna-hsm/sequence-gaps.ts); this detector turns each new one into an alert. Missing records can hide exactly the key operations the other detectors look for. High; critical for a reset or for ${LARGE_GAP} or more missing records.`,
  runbook:
    'Find where the records were lost: compare the HSM\'s own log with what was delivered (CloudHSM: the CloudWatch log stream named in the evidence, `aws logs get-log-events` around before_time..after_time; Luna: `audit log verify` on the appliance for the missing record numbers, and the syslog relay\'s drop counters). If the records exist at the source, re-ingest them: the finding disappears once they arrive. If they do not, or the numbering was reset, treat it as possible tampering: check for reboots, zeroisation or re-initialisation of the HSM around before_time (keywatch sql "SELECT * FROM key_events WHERE attributes[\'stream\'] = \'<stream>\' OR attributes[\'hsm_serial\'] = \'<stream>\' ORDER BY event_time DESC LIMIT 100"), and who had admin access then.',
  references: [
    'https://docs.aws.amazon.com/cloudhsm/latest/userguide/get-hsm-audit-logs-using-cloudwatch.html',
    'https://docs.aws.amazon.com/cloudhsm/latest/userguide/interpreting-audit-logs.html',
    'Thales Luna Network HSM 7: "audit log verify" (record numbers and MAC chain)',
    'PCI DSS v4.0 10.3 (audit logs protected from destruction and unauthorized modification)',
    'MITRE ATT&CK T1562.008 (Impair Defenses: Disable or Modify Cloud Logs), T1070 (Indicator Removal)',
  ],
  falsePositives: [
    'A log delivery still catching up (CloudWatch subscription or syslog relay lag): the finding is removed when the records arrive, but the alert stays; close it then',
    'Only part of an HSM\'s history was ingested (an export cut in the middle of a reboot counter)',
    'A Luna HSM re-initialised on purpose restarts its numbering, which shows as a gap (declare a maintenance window)',
    'An HSM clock stepped backwards shows as a CloudHSM sequence reset',
  ],
  dedupeMinutes: 60,
  async run(ctx) {
    // The findings live in audit_integrity, not key_events, so the run's scope is applied to them
    // through the same two columns the engine's predicate uses: ingest_time is the time the finding
    // was detected (the ingest that stored the records around the gap wrote it) and event_time the
    // later of the two records around it. An incremental run thus sees the findings detected since
    // its watermark and no others (the scope's `from` reaches back initialLookbackHours before the
    // watermark, so bounding detected_time by from/to would report each finding again on every run
    // of that window); a first run also skips gaps in history older than its look-back, like every
    // other detector; an explicit --from/--to run sees the findings about records of that range.
    const rows = await ctx.store.query<IntegrityRow>(
      `SELECT tenant, source, stream, kind, epoch, toString(from_position) AS from_position, toString(to_position) AS to_position,
              toString(missing) AS missing, toString(least(before_time, after_time)) AS first, toString(greatest(before_time, after_time)) AS last,
              toString(detected_time) AS detected, before_event_id, after_event_id, detail
       FROM
       (
         SELECT *, detected_time AS ingest_time, greatest(before_time, after_time) AS event_time
         FROM audit_integrity FINAL
       )
       WHERE (${ctx.scope.sql})
       ORDER BY first, source, stream, kind, epoch`,
      ctx.scope.params,
    );
    return rows.map((r): Finding => {
      const missing = Number(r.missing);
      const critical = RESETS.includes(r.kind) || missing >= LARGE_GAP;
      return {
        tenant: r.tenant,
        key_id: '',
        principal: '',
        first_time: r.first,
        last_time: r.last,
        score: critical ? 95 : 80,
        severity: critical ? 'critical' : 'high',
        event_count: [r.before_event_id, r.after_event_id].filter((id) => id !== '').length,
        event_ids: [r.before_event_id, r.after_event_id].filter((id) => id !== ''),
        evidence: {
          kind: r.kind,
          source: r.source,
          stream: r.stream,
          epoch: r.epoch,
          from: r.from_position,
          to: r.to_position,
          missing,
          detected_time: r.detected,
          detail: r.detail,
        },
        title: titleOf(r, missing),
        group: [r.source, r.stream, r.kind, r.epoch, r.from_position, r.to_position].join('|'),
      };
    });
  },
};
