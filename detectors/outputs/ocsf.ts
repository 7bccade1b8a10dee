import type { Severity } from '../detector.ts';
import type { AlertRow } from '../engine.ts';

/**
 * Alerts as OCSF Detection Findings (class_uid 2004, category Findings), schema 1.4.0: the first
 * release with `is_alert` on this class (OCSF CHANGELOG, v1.4.0: "Added `is_alert` to
 * `detection_finding`"). Attribute names and enums follow https://schema.ocsf.io/1.4.0/classes/detection_finding
 * and the objects it uses (finding_info, analytic, metadata, product, resource_details, actor,
 * user, evidences, remediation, related_event).
 *
 * Mapping: the alert id is finding_info.uid; the detector is the analytic (a rule) and the
 * finding type; the key is the affected resource; the principal is the actor; the evidence
 * (baseline numbers behind the score) is `evidences[].data`; the runbook is the remediation;
 * the score (0..100) is the confidence and risk score. keywatch's own fields go under `unmapped`.
 *
 * @example alertToOcsf(alert, 'create').type_uid === 200401
 */
export const OCSF_VERSION = '1.4.0';
export const DETECTION_FINDING_CLASS_UID = 2004;
const FINDINGS_CATEGORY_UID = 2;

const ACTIVITY = { create: { id: 1, name: 'Create' }, update: { id: 2, name: 'Update' }, close: { id: 3, name: 'Close' } } as const;

/** OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical. */
const SEVERITY: Record<Severity, { id: number; name: string }> = {
  info: { id: 1, name: 'Informational' },
  low: { id: 2, name: 'Low' },
  medium: { id: 3, name: 'Medium' },
  high: { id: 4, name: 'High' },
  critical: { id: 5, name: 'Critical' },
};

/** confidence_id: 1 Low, 2 Medium, 3 High, from the 0..100 score in thirds. */
function confidence(score: number): { id: number; name: string } {
  if (score >= 67) return { id: 3, name: 'High' };
  if (score >= 34) return { id: 2, name: 'Medium' };
  return { id: 1, name: 'Low' };
}

/** The shape written; only what keywatch fills. */
export interface DetectionFinding {
  activity_id: number;
  activity_name: string;
  category_uid: number;
  category_name: string;
  class_uid: number;
  class_name: string;
  type_uid: number;
  type_name: string;
  time: number;
  timezone_offset: number;
  start_time: number;
  end_time: number;
  severity_id: number;
  severity: string;
  status_id: number;
  status: string;
  is_alert: boolean;
  message: string;
  confidence_id: number;
  confidence: string;
  confidence_score: number;
  risk_score: number;
  metadata: { version: string; product: { name: string; vendor_name: string }; uid: string; log_name: string };
  finding_info: {
    uid: string;
    title: string;
    desc: string;
    types: string[];
    created_time: number;
    first_seen_time: number;
    last_seen_time: number;
    analytic: { uid: string; name: string; type_id: number; type: string };
    related_events?: { uid: string }[];
  };
  resources?: { uid: string; type: string; name: string }[];
  actor?: { user: { name: string; uid: string } };
  evidences: { data: Record<string, unknown>; actor?: { user: { name: string; uid: string } } }[];
  remediation: { desc: string };
  unmapped: { tenant: string; key_id: string; principal: string; detector: string; score: number; event_count: number; revision?: string };
}

/** ClickHouse DateTime64 text (UTC) to OCSF timestamp_t (milliseconds since the epoch). */
const ms = (t: string): number => Date.parse(`${t.replace(' ', 'T')}Z`);

/**
 * One alert as an OCSF Detection Finding. `activity` is `update` when an earlier version of the
 * same alert (same id) was already sent to the receiver.
 */
export function alertToOcsf(a: AlertRow, activity: 'create' | 'update' = 'create', opts: { revision?: string } = {}): DetectionFinding {
  // A resolved alert closes the finding (activity 3, Close).
  const act = a.status === 'resolved' ? ACTIVITY.close : ACTIVITY[activity];
  const sev = SEVERITY[a.severity];
  const score = Number(a.score);
  const conf = confidence(score);
  let evidence: Record<string, unknown>;
  try {
    const parsed = JSON.parse(a.evidence) as unknown;
    evidence = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { value: parsed };
  } catch {
    evidence = { text: a.evidence };
  }
  const user = a.principal ? { user: { name: a.principal, uid: a.principal } } : undefined;
  const eventCount = Number(a.event_count);
  return {
    activity_id: act.id,
    activity_name: act.name,
    category_uid: FINDINGS_CATEGORY_UID,
    category_name: 'Findings',
    class_uid: DETECTION_FINDING_CLASS_UID,
    class_name: 'Detection Finding',
    type_uid: DETECTION_FINDING_CLASS_UID * 100 + act.id,
    type_name: `Detection Finding: ${act.name}`,
    time: ms(a.detected_time),
    timezone_offset: 0,
    start_time: ms(a.first_time),
    end_time: ms(a.last_time),
    severity_id: sev.id,
    severity: sev.name,
    // OCSF status_id: 1 New, 4 Resolved.
    ...(a.status === 'resolved' ? { status_id: 4, status: 'Resolved' } : { status_id: 1, status: 'New' }),
    is_alert: true,
    message: a.title,
    confidence_id: conf.id,
    confidence: conf.name,
    confidence_score: Math.round(score),
    risk_score: Math.round(score),
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'keywatch', vendor_name: 'keywatch' },
      uid: opts.revision ? `${a.alert_id}:${opts.revision}` : a.alert_id,
      log_name: 'alerts',
    },
    finding_info: {
      uid: a.alert_id,
      title: a.title,
      desc: `${a.title}: ${eventCount} event(s) from ${a.first_time} to ${a.last_time} UTC${a.key_id ? ` on key ${a.key_id}` : ''}${a.principal ? ` by ${a.principal}` : ''} (tenant ${a.tenant})`,
      types: [a.detector],
      created_time: ms(a.detected_time),
      first_seen_time: ms(a.first_time),
      last_seen_time: ms(a.last_time),
      analytic: { uid: a.detector, name: a.detector, type_id: 1, type: 'Rule' },
      ...(a.event_ids.length > 0 ? { related_events: a.event_ids.map((uid) => ({ uid })) } : {}),
    },
    ...(a.key_id ? { resources: [{ uid: a.key_id, type: 'Key', name: a.key_id }] } : {}),
    ...(user ? { actor: user } : {}),
    evidences: [{ data: { ...evidence, event_ids: a.event_ids }, ...(user ? { actor: user } : {}) }],
    remediation: { desc: a.runbook },
    unmapped: { tenant: a.tenant, key_id: a.key_id, principal: a.principal, detector: a.detector, score, event_count: eventCount, ...(opts.revision ? { revision: opts.revision } : {}) },
  };
}
