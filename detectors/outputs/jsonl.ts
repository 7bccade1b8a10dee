import type { AlertRow } from '../engine.ts';

/**
 * An alert as one JSON line for SOC pipelines: the alert row with `evidence` parsed, times in
 * RFC 3339. Suppressed alerts are not written.
 *
 * @example process.stdout.write(alertsToJsonl(result.alerts))
 */
export function alertToJson(a: AlertRow): Record<string, unknown> {
  const iso = (t: string) => `${t.replace(' ', 'T')}Z`;
  return {
    id: a.alert_id,
    detector: a.detector,
    title: a.title,
    severity: a.severity,
    score: a.score,
    tenant: a.tenant,
    key_id: a.key_id,
    principal: a.principal,
    first_time: iso(a.first_time),
    last_time: iso(a.last_time),
    detected_time: iso(a.detected_time),
    event_count: a.event_count,
    event_ids: a.event_ids,
    evidence: JSON.parse(a.evidence) as unknown,
    runbook: a.runbook,
  };
}

export function alertsToJsonl(alerts: readonly AlertRow[]): string {
  return alerts
    .filter((a) => a.status === 'open')
    .map((a) => JSON.stringify(alertToJson(a)) + '\n')
    .join('');
}
