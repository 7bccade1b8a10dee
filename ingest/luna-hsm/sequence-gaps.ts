import type { Store } from '../../storage/store.ts';
import type { IngestRun } from '../collector.ts';
import { touchedStreams } from '../integrity-scope.ts';

/**
 * Gaps in a Luna HSM's record numbers. The HSM numbers its audit records without gaps ("audit log
 * verify" reports "Verified messages 270723 to 271699") and MAC-chains them; keywatch sees the
 * records only as syslog lines, so it cannot check the MACs, but it can see a number that never
 * arrived. Each gap between two stored records of one HSM (attributes hsm_serial and sequence)
 * becomes one `audit_integrity` row of kind `sequence_gap`; a gap that later records fill is
 * removed, and one found again keeps its row.
 *
 * With `run` (as `Collector.afterIngest` passes it) only the HSMs that the run's batches stored
 * records of are re-checked, over all their stored records, and only their findings are
 * reconciled: those of other HSMs are left as they are. Without it every HSM is re-checked (for
 * tests and a `keywatch verify`).
 *
 * Limits: the numbers are compared in numeric order, so a restart of the numbering (an HSM
 * re-initialised) shows as gaps that are not; lines without a serial or number are not checked.
 *
 * @example const newFindings = await recordSequenceGaps(store, new Date(), { batchIds: [batch.batchId] });
 * @example const newFindings = await recordSequenceGaps(store, new Date()); // every HSM
 */
export async function recordSequenceGaps(store: Store, now: Date, run?: IngestRun): Promise<number> {
  let streams: string[] | undefined;
  if (run) {
    streams = await touchedStreams(store, 'luna-hsm', "attributes['hsm_serial']", run);
    if (streams.length === 0) return 0;
  }
  const params = streams ? { streams } : undefined;
  const gaps = await store.query<{
    stream: string;
    tenant: string;
    from_position: string;
    to_position: string;
    missing: string;
    before_time: string;
    after_time: string;
    before_event_id: string;
    after_event_id: string;
  }>(
    `SELECT stream, tenant, prev_no + 1 AS from_position, seq_no - 1 AS to_position, seq_no - prev_no - 1 AS missing,
       toString(prev_time) AS before_time, toString(event_time) AS after_time, prev_id AS before_event_id, event_id AS after_event_id
     FROM
     (
       SELECT stream, tenant, seq_no, event_time, event_id,
         lagInFrame(seq_no) OVER w AS prev_no, lagInFrame(event_time) OVER w AS prev_time, lagInFrame(event_id) OVER w AS prev_id,
         row_number() OVER w AS rn
       FROM
       (
         SELECT attributes['hsm_serial'] AS stream, toUInt64OrZero(attributes['sequence']) AS seq_no,
           any(tenant) AS tenant, min(event_time) AS event_time, min(event_id) AS event_id
         FROM key_events
         WHERE source = 'luna-hsm' AND attributes['hsm_serial'] != '' AND match(attributes['sequence'], '^[0-9]{1,19}$')
           ${streams ? "AND attributes['hsm_serial'] IN {streams:Array(String)}" : ''}
         GROUP BY stream, seq_no
       )
       WINDOW w AS (PARTITION BY stream ORDER BY seq_no ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
     )
     WHERE rn > 1 AND seq_no > prev_no + 1
     ORDER BY stream, from_position`,
    params,
  );
  const existing = await store.query<{ stream: string; from_position: string; to_position: string }>(
    `SELECT stream, toString(from_position) AS from_position, toString(to_position) AS to_position
     FROM audit_integrity FINAL WHERE source = 'luna-hsm' AND kind = 'sequence_gap' ${streams ? 'AND stream IN {streams:Array(String)}' : ''}`,
    params,
  );
  const key = (g: { stream: string; from_position: string; to_position: string }) => `${g.stream}:${g.from_position}:${g.to_position}`;
  const current = new Set(gaps.map(key));
  const known = new Set(existing.map(key));
  const stale = existing.filter((g) => !current.has(key(g)));
  for (const g of stale) {
    await store.exec(
      `DELETE FROM audit_integrity WHERE source = 'luna-hsm' AND kind = 'sequence_gap' AND stream = {s:String}
         AND from_position = {f:UInt64} AND to_position = {t:UInt64}`,
      { s: g.stream, f: g.from_position, t: g.to_position },
    );
  }
  const detected = now.toISOString().replace('T', ' ').replace('Z', '');
  // Only new gaps are written, so that a finding keeps the time it was first detected.
  const fresh = gaps.filter((g) => !known.has(key(g)));
  if (fresh.length > 0) {
    await store.insertRows(
      'audit_integrity',
      fresh.map((g) => ({
        detected_time: detected,
        tenant: g.tenant,
        source: 'luna-hsm',
        stream: g.stream,
        kind: 'sequence_gap',
        epoch: '',
        from_position: Number(g.from_position),
        to_position: Number(g.to_position),
        missing: Number(g.missing),
        before_time: g.before_time,
        after_time: g.after_time,
        before_event_id: g.before_event_id,
        after_event_id: g.after_event_id,
        detail: `audit records ${g.from_position}${g.missing === '1' ? '' : `..${g.to_position}`} of HSM ${g.stream} never arrived (${g.missing} missing between ${g.before_event_id} and ${g.after_event_id})`,
      })),
    );
  }
  return fresh.length;
}
