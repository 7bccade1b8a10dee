import { appendFile } from 'node:fs/promises';
import type { AlertRow } from '../engine.ts';
import type { Destination, OutboxEntry, RetryPolicy, SendOutcome } from './outbox.ts';

/**
 * An alert as one JSON line for SOC pipelines: the alert row with `evidence` parsed, times in
 * RFC 3339. Suppressed alerts are not written; a resolved one carries `status: resolved` and its
 * `resolved_time`.
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
    status: a.status,
    ...(a.resolved_time ? { resolved_time: iso(a.resolved_time) } : {}),
    event_count: a.event_count,
    event_ids: a.event_ids,
    evidence: JSON.parse(a.evidence) as unknown,
    runbook: a.runbook,
  };
}

export function alertsToJsonl(alerts: readonly AlertRow[]): string {
  return alerts
    .filter((a) => a.status !== 'suppressed')
    .map((a) => JSON.stringify(alertToJson(a)) + '\n')
    .join('');
}

/**
 * The file destination (`alerts.jsonlFile`): appends each alert of the outbox as one JSON line
 * (the `alertToJson` object). One append per batch; a failed append (disk full, no permission)
 * is retried. At least once: a line may repeat after a crash between the append and recording it.
 *
 * @example const file = jsonlFileDestination('/var/log/keywatch/alerts.jsonl', retry);
 */
export function jsonlFileDestination(path: string, retry: RetryPolicy): Destination {
  return {
    id: 'file',
    retry,
    send: async (entries: readonly OutboxEntry[]): Promise<SendOutcome[]> => {
      if (entries.length === 0) return [];
      try {
        await appendFile(path, entries.map((e) => JSON.stringify(alertToJson(e.alert)) + '\n').join(''));
        return entries.map(() => ({ result: 'delivered' }));
      } catch (e) {
        const error = `cannot append to the alerts file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
        return entries.map(() => ({ result: 'retry', error }));
      }
    },
    close: async () => undefined,
  };
}
