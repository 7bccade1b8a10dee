import type { AlertRecord } from '../core/alert.ts';
import { KeywatchError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';

/*
 * The alert feed as analysts work it: list alerts, and resolve the ones handled. Resolving writes
 * a newer version of the alert row (status `resolved`, `resolved_time`, the note in the evidence),
 * which the outputs send on as a resolution and the incident-recovery SLO measures.
 */

const ch = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '');

const COLUMNS = `alert_id, toString(detected_time) AS detected_time, detector, title, severity, score, tenant, key_id, principal,
  toString(first_time) AS first_time, toString(last_time) AS last_time, event_count, event_ids, evidence, runbook, status, suppressed_by,
  toString(resolved_time) AS resolved_time`;

export interface ListOptions {
  status?: 'open' | 'resolved' | 'suppressed' | 'all';
  detector?: string;
  tenant?: string;
  since?: Date;
  limit?: number;
}

/** Alerts, newest first by their first evidence. */
export async function listAlerts(store: Store, o: ListOptions = {}): Promise<AlertRecord[]> {
  const rows = await store.query<AlertRecord>(
    // Filtered and ordered inside: outside, first_time is the text alias of the column.
    `SELECT ${COLUMNS} FROM
     (
       SELECT * FROM alerts FINAL
       WHERE ({status:String} = 'all' OR status = {status:String})
         AND ({detector:String} = '' OR detector = {detector:String})
         AND ({tenant:String} = '' OR tenant = {tenant:String})
         AND first_time >= {since:DateTime64(3)}
       ORDER BY first_time DESC, alert_id
       LIMIT {limit:UInt32}
     )
     ORDER BY first_time DESC, alert_id`,
    { status: o.status ?? 'open', detector: o.detector ?? '', tenant: o.tenant ?? '', since: ch(o.since ?? new Date(0)), limit: o.limit ?? 100 },
  );
  return rows.map((r) => ({ ...r, score: Number(r.score), event_count: Number(r.event_count) }));
}

export interface ResolveResult {
  resolved: AlertRecord[];
  alreadyResolved: string[];
}

/**
 * Resolves open (or suppressed) alerts by id at `now`, with an optional note. Unknown ids are an
 * error naming them, and nothing is written; an alert already resolved is left as it is.
 */
export async function resolveAlerts(store: Store, ids: readonly string[], now: Date, note = ''): Promise<ResolveResult> {
  const unique = [...new Set(ids)];
  const rows = await store.query<AlertRecord>(`SELECT ${COLUMNS} FROM alerts FINAL WHERE alert_id IN {ids:Array(String)}`, { ids: unique });
  const found = new Map(rows.map((r) => [r.alert_id, r]));
  const missing = unique.filter((id) => !found.has(id));
  if (missing.length > 0) throw new KeywatchError('USAGE', `no alert with id ${missing.join(', ')} (keywatch alerts list --status all shows them)`);
  const resolved: AlertRecord[] = [];
  const alreadyResolved: string[] = [];
  for (const r of found.values()) {
    if (r.status === 'resolved') {
      alreadyResolved.push(r.alert_id);
      continue;
    }
    let evidence: Record<string, unknown>;
    try {
      evidence = JSON.parse(r.evidence) as Record<string, unknown>;
    } catch {
      evidence = { text: r.evidence };
    }
    resolved.push({
      ...r,
      score: Number(r.score),
      event_count: Number(r.event_count),
      detected_time: ch(now),
      status: 'resolved',
      resolved_time: ch(now),
      evidence: JSON.stringify({ ...evidence, resolution: { at: now.toISOString(), ...(note ? { note } : {}) } }),
    });
  }
  await store.insertRows('alerts', resolved);
  return { resolved, alreadyResolved };
}
