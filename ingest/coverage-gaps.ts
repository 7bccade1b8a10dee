import type { Store } from '../storage/store.ts';
import { chTime } from './sink.ts';

/**
 * Coverage gaps: a key that shows management activity in a window but no data-plane use. Logs
 * of key use are often off (GCP Data Access audit logs are off by default; Azure KeyDecrypt and
 * KeyUnwrap appear only in the AuditEvent diagnostic log, not the Activity Log; a CloudTrail
 * trail can exclude read events; a Luna audit mask can leave out usage), so such a key is more
 * likely unlogged than unused. A whole account (project, subscription) without any data-plane
 * event is reported as such, since that points at a switched-off log rather than a quiet key.
 *
 * Keys whose last lifecycle event disabled or scheduled them for deletion are left out: no use
 * is expected; so are keys whose only management is their creation in the last day. AWS CloudHSM never logs key use (management commands only), so it is not checked.
 */
export interface CoverageGap {
  tenant: string;
  source: string;
  account: string;
  key_id: string;
  admin_events: number;
  last_admin_time: string;
  data_events: number;
  reason: 'no_data_plane_events_for_account' | 'no_data_plane_events_for_key';
  hint: string;
}

/** Sources whose logs never carry key use, so silence there is not a gap. */
export const SOURCES_WITHOUT_DATA_PLANE = ['aws-cloudhsm'];

const HINTS: Record<string, string> = {
  'gcp-kms': 'turn on Data Access audit logs (DATA_READ, DATA_WRITE) for cloudkms.googleapis.com in this project',
  'azure-key-vault': 'send the AuditEvent category of this vault or managed HSM to the export keywatch reads (diagnostic setting)',
  'aws-kms': 'check that the trail logs read management events for kms.amazonaws.com (Decrypt, Encrypt and GenerateDataKey are read events)',
  'luna-hsm': 'check the HSM audit mask includes usage events (audit config)',
  vault: 'check that no audit device filters transit requests; otherwise the key is unused',
};

/**
 * The gaps in [from, to): a read-only query, used by `keywatch status` and by `refreshCoverageGaps`.
 */
export function coverageGapsSql(): string {
  const hintKeys = Object.keys(HINTS);
  const hintValues = Object.values(HINTS);
  const lit = (xs: string[]) => `[${xs.map((x) => `'${x.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')}]`;
  return `
SELECT tenant, source, account, key_id, admin_events, last_admin_time, data_events,
  if(account_data_events = 0, 'no_data_plane_events_for_account', 'no_data_plane_events_for_key') AS reason,
  transform(source, ${lit(hintKeys)}, ${lit(hintValues)}, 'check that the source logs key use') AS hint
FROM
(
  SELECT tenant, source, account, key_id, admin_events, last_admin_time, data_events, last_lifecycle, just_created,
    sum(data_events) OVER (PARTITION BY tenant, source, account) AS account_data_events
  FROM
  (
    SELECT tenant, source, account, key_id,
      countIf(operation_class IN ('lifecycle', 'policy', 'admin')) AS admin_events,
      toString(maxIf(event_time, operation_class IN ('lifecycle', 'policy', 'admin'))) AS last_admin_time,
      countIf(operation_class = 'crypto') AS data_events,
      argMaxIf(operation, event_time, operation_class = 'lifecycle') AS last_lifecycle,
      -- A key whose only management is its creation in the last day has not had time to be used.
      countIf(operation = 'create_key') = admin_events AND maxIf(event_time, operation_class IN ('lifecycle', 'policy', 'admin')) >= {to:DateTime64(3)} - INTERVAL 1 DAY AS just_created
    FROM key_events
    WHERE event_time >= {from:DateTime64(3)} AND event_time < {to:DateTime64(3)}
      AND key_id != '' AND source NOT IN ${lit(SOURCES_WITHOUT_DATA_PLANE)}
    GROUP BY tenant, source, account, key_id
  )
)
WHERE admin_events > 0 AND data_events = 0 AND NOT just_created
  AND last_lifecycle NOT IN ('disable_key', 'schedule_deletion', 'destroy_version', 'delete_key_material')
ORDER BY tenant, source, account, key_id`;
}

export interface CoverageWindow {
  from: Date;
  to: Date;
}

export function coverageWindow(now: Date, windowDays: number): CoverageWindow {
  return { from: new Date(now.getTime() - windowDays * 86_400_000), to: now };
}

export async function findCoverageGaps(store: Store, w: CoverageWindow): Promise<CoverageGap[]> {
  const rows = await store.query<Record<string, string>>(coverageGapsSql(), { from: chTime(w.from), to: chTime(w.to) });
  return rows.map((r) => ({
    tenant: String(r.tenant),
    source: String(r.source),
    account: String(r.account),
    key_id: String(r.key_id),
    admin_events: Number(r.admin_events),
    last_admin_time: String(r.last_admin_time),
    data_events: Number(r.data_events),
    reason: r.reason as CoverageGap['reason'],
    hint: String(r.hint),
  }));
}

/**
 * Replaces the `coverage_gaps` table's content with the gaps of the window ending `now`, for
 * detectors and reports. Returns the gaps.
 */
export async function refreshCoverageGaps(store: Store, w: CoverageWindow, now: Date, cluster?: string): Promise<CoverageGap[]> {
  const gaps = await findCoverageGaps(store, w);
  await store.exec(cluster ? `TRUNCATE TABLE coverage_gaps_local ON CLUSTER '${cluster.replace(/'/g, "\\'")}'` : 'TRUNCATE TABLE coverage_gaps');
  if (gaps.length > 0) {
    await store.insertRows(
      'coverage_gaps',
      gaps.map((g) => ({ evaluated_time: chTime(now), window_start: chTime(w.from), window_end: chTime(w.to), ...g })),
    );
  }
  return gaps;
}
