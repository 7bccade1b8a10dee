import { randomUUID } from 'node:crypto';
import type { Store } from '../../storage/store.ts';
import type { IngestRun } from '../collector.ts';
import { touchedStreams } from '../integrity-scope.ts';

/**
 * Integrity of the CloudHSM audit streams. Each HSM numbers its entries: `Sequence No` starts at 0
 * and grows by one per entry with no gaps, `Reboot counter` grows by one per reboot of the HSM
 * (User Guide, "Interpreting AWS CloudHSM audit logs"). Over the stored events of source
 * `aws-cloudhsm` (attributes stream, reboot_counter, sequence_no, usecs) this finds, per stream:
 *
 *  - `sequence_gap`: numbers missing between two stored entries of one reboot counter and one run
 *    of its numbering (from_position..to_position), and numbers missing at the start of a reboot
 *    counter that is not the stream's first one (0..first-1: after a reboot the HSM starts again
 *    at 0). The first reboot counter seen may start anywhere: keywatch can start reading a stream
 *    mid-way.
 *  - `sequence_reset`: within one reboot counter, an entry whose number is not above the number of
 *    the entry before it in time (`usecs`): the numbering started over without a reboot.
 *    from_position = the number before, to_position = the number it restarted at.
 *  - `reboot_counter_reset`: a reboot counter lower than the one before it in time.
 *    from_position = the earlier counter, to_position = the later one.
 *
 * The findings of the streams in scope are recomputed from all their stored entries and reconciled
 * with `audit_integrity`: a finding that no longer holds (the missing entries arrived late) is
 * deleted, a new one is inserted, one found again keeps its row (and its first detected_time).
 * With `run` (as `Collector.afterIngest` passes it) the scope is the streams that the run's
 * batches stored entries of, and the findings of every other stream are left as they are; without
 * it the scope is every stream (a full re-check, for tests and a `keywatch verify`).
 * `epoch` is the reboot counter as the entries write it (hex), followed by `/N` for findings in the
 * N-th restart of the numbering within it. Returns the number of new findings.
 *
 * Limits: gaps at the end of a reboot counter (entries lost just before a reboot) cannot be seen;
 * the HSM's clock orders entries for the reset checks, so a clock stepped backwards shows as a reset.
 *
 * @example const newFindings = await findSequenceGaps(store, new Date(), { batchIds: [batch.batchId] });
 * @example const newFindings = await findSequenceGaps(store, new Date()); // every stream
 */
export async function findSequenceGaps(store: Store, now: Date, run?: IngestRun): Promise<number> {
  let streams: string[] | undefined;
  if (run) {
    streams = await touchedStreams(store, 'aws-cloudhsm', "attributes['stream']", run);
    if (streams.length === 0) return 0;
  }
  const params = streams ? { streams } : undefined;
  const table = `kw_hsm_seq_${randomUUID().replace(/-/g, '')}`;
  let found: Finding[];
  try {
    await store.exec(`CREATE TABLE ${table} ENGINE = Memory AS ${entriesSql(streams ? "AND attributes['stream'] IN {streams:Array(String)}" : '')}`, params);
    found = await store.query<Finding>(findingsSql(table));
  } finally {
    await store.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  }
  const existing = await store.query<FindingKey>(
    `SELECT stream, kind, epoch, toString(from_position) AS from_position, toString(to_position) AS to_position
     FROM audit_integrity FINAL WHERE source = 'aws-cloudhsm' ${streams ? 'AND stream IN {streams:Array(String)}' : ''}`,
    params,
  );
  const key = (f: FindingKey) => `${f.stream}\u0000${f.kind}\u0000${f.epoch}\u0000${f.from_position}\u0000${f.to_position}`;
  const current = new Set(found.map(key));
  const known = new Set(existing.map(key));
  for (const f of existing.filter((x) => !current.has(key(x)))) {
    await store.exec(
      `DELETE FROM audit_integrity WHERE source = 'aws-cloudhsm' AND stream = {s:String} AND kind = {k:String} AND epoch = {e:String}
         AND from_position = {f:UInt64} AND to_position = {t:UInt64}`,
      { s: f.stream, k: f.kind, e: f.epoch, f: f.from_position, t: f.to_position },
    );
  }
  const detected = now.toISOString().replace('T', ' ').replace('Z', '');
  const fresh = found.filter((f) => !known.has(key(f)));
  if (fresh.length > 0) {
    await store.insertRows(
      'audit_integrity',
      fresh.map((f) => ({ detected_time: detected, source: 'aws-cloudhsm', ...f, detail: detail(f) })),
    );
  }
  return fresh.length;
}

interface FindingKey {
  stream: string;
  kind: 'sequence_gap' | 'sequence_reset' | 'reboot_counter_reset';
  epoch: string;
  from_position: string;
  to_position: string;
}

interface Finding extends FindingKey {
  tenant: string;
  missing: string;
  before_time: string;
  after_time: string;
  before_event_id: string;
  after_event_id: string;
}

const hex = (n: string) => `0x${BigInt(n).toString(16)}`;

/** `0x107` -> `reboot counter 0x107`; `0x107/2` -> `reboot counter 0x107, after restart 2 of its numbering`. */
function epochText(epoch: string): string {
  const [counter, run] = epoch.split('/');
  return run === undefined ? `reboot counter ${counter}` : `reboot counter ${counter}, after restart ${run} of its numbering`;
}

function detail(f: Finding): string {
  const range = f.from_position === f.to_position ? `Sequence No ${hex(f.from_position)}` : `Sequence No ${hex(f.from_position)}..${hex(f.to_position)}`;
  if (f.kind === 'sequence_gap') {
    return `${range} of ${f.stream} (${epochText(f.epoch)}) never arrived: ${f.missing} ${f.missing === '1' ? 'entry' : 'entries'} missing between ${f.before_event_id || 'the previous reboot counter'} and ${f.after_event_id}`;
  }
  if (f.kind === 'sequence_reset') {
    return `the Sequence No of ${f.stream} went from ${hex(f.from_position)} back to ${hex(f.to_position)} within ${epochText(f.epoch).replace(/, after restart .*/, '')} (${f.before_event_id} then ${f.after_event_id})`;
  }
  return `the reboot counter of ${f.stream} went back from ${hex(f.from_position)} to ${hex(f.to_position)} (${f.before_event_id} then ${f.after_event_id})`;
}

const EPOCH_HEX = (e: string) => `concat('0x', if(${e} = 0, '0', trimLeft(lower(hex(${e})), '0')))`;
/** The reboot counter in hex, and `/N` for the N-th restart of the numbering within it. */
const EPOCH_LABEL = (e: string, run: string) => `concat(${EPOCH_HEX(e)}, if(${run} = 0, '', concat('/', toString(${run}))))`;

// The stored entries of the streams in scope (`scope`: an extra condition on key_events, or ''),
// read once (deduplicated on event_id: key_events is a ReplacingMergeTree
// that may hold a row twice until it merges) into a Memory table that the findings query reads
// several times. In the HSM's time order, an entry whose number is not above the one before
// starts a new run; gaps are looked for within each run, in number order.
const entriesSql = (scope: string) => `
SELECT *,
  sum(toUInt64(is_reset)) OVER (PARTITION BY stream, epoch ORDER BY us, seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
FROM
(
  SELECT *,
    lagInFrame(seq) OVER w AS prev_seq, lagInFrame(t) OVER w AS prev_t, lagInFrame(event_id) OVER w AS prev_id,
    row_number() OVER w > 1 AND seq <= prev_seq AS is_reset
  FROM
  (
    SELECT tenant, attributes['stream'] AS stream, toUInt64(attributes['reboot_counter']) AS epoch,
      toUInt64(attributes['sequence_no']) AS seq, toUInt64OrZero(attributes['usecs']) AS us, event_time AS t, event_id
    FROM key_events
    WHERE source = 'aws-cloudhsm' AND attributes['sequence_no'] != '' AND attributes['reboot_counter'] != '' ${scope}
    LIMIT 1 BY event_id
  )
  WINDOW w AS (PARTITION BY stream, epoch ORDER BY us, seq ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)`;

const findingsSql = (entries: string) => `
WITH epochs AS
(
  SELECT *,
    lagInFrame(epoch) OVER w AS prev_epoch, lagInFrame(last_t) OVER w AS prev_last_t, lagInFrame(last_id) OVER w AS prev_last_id,
    row_number() OVER w AS rn
  FROM
  (
    SELECT any(tenant) AS tenant, stream, epoch, minIf(seq, run = 0) AS first_seq, min(us) AS first_us,
      argMinIf(t, seq, run = 0) AS first_t, argMinIf(event_id, seq, run = 0) AS first_id,
      argMax(t, (us, seq)) AS last_t, argMax(event_id, (us, seq)) AS last_id
    FROM ${entries} GROUP BY stream, epoch
  )
  WINDOW w AS (PARTITION BY stream ORDER BY first_us, epoch ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
SELECT tenant, stream, kind, epoch_label AS epoch, from_position, to_position, missing, before_time, after_time, before_event_id, after_event_id
FROM
(
  SELECT tenant, stream, 'sequence_gap' AS kind, ${EPOCH_LABEL('epoch', 'run')} AS epoch_label,
    toString(g_prev_seq + 1) AS from_position, toString(seq - 1) AS to_position, toString(seq - g_prev_seq - 1) AS missing,
    toString(g_prev_t) AS before_time, toString(t) AS after_time, g_prev_id AS before_event_id, id AS after_event_id
  FROM
  (
    SELECT tenant, stream, epoch, run, seq, t, id,
      lagInFrame(seq) OVER w AS g_prev_seq, lagInFrame(t) OVER w AS g_prev_t, lagInFrame(id) OVER w AS g_prev_id, row_number() OVER w AS g_rn
    FROM (SELECT any(tenant) AS tenant, stream, epoch, run, seq, min(t) AS t, min(event_id) AS id FROM ${entries} GROUP BY stream, epoch, run, seq)
    WINDOW w AS (PARTITION BY stream, epoch, run ORDER BY seq ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
  )
  WHERE g_rn > 1 AND seq > g_prev_seq + 1

  UNION ALL

  -- Per reboot counter, in the order the stream lived them: the leading gap of every counter after
  -- the first (a counter starts at 0), and counters that go backwards.
  SELECT tenant, stream, 'sequence_gap' AS kind, ${EPOCH_HEX('epoch')} AS epoch_label,
    '0' AS from_position, toString(first_seq - 1) AS to_position, toString(first_seq) AS missing,
    toString(prev_last_t) AS before_time, toString(first_t) AS after_time, prev_last_id AS before_event_id, first_id AS after_event_id
  FROM epochs
  WHERE rn > 1 AND first_seq > 0

  UNION ALL

  SELECT tenant, stream, 'reboot_counter_reset' AS kind, ${EPOCH_HEX('epoch')} AS epoch_label,
    toString(prev_epoch) AS from_position, toString(epoch) AS to_position, '0' AS missing,
    toString(prev_last_t) AS before_time, toString(first_t) AS after_time, prev_last_id AS before_event_id, first_id AS after_event_id
  FROM epochs
  WHERE rn > 1 AND epoch < prev_epoch

  UNION ALL

  SELECT tenant, stream, 'sequence_reset' AS kind, ${EPOCH_LABEL('epoch', 'run')} AS epoch_label,
    toString(prev_seq) AS from_position, toString(seq) AS to_position, '0' AS missing,
    toString(prev_t) AS before_time, toString(t) AS after_time, prev_id AS before_event_id, event_id AS after_event_id
  FROM ${entries}
  WHERE is_reset
)
ORDER BY stream, kind, epoch_label, toUInt64(from_position)`;
