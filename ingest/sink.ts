import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { KEY_EVENT_COLUMNS as KEY_EVENT_FIELDS } from '../core/key-event.ts';
import type { Store } from '../storage/store.ts';
import { CONTENT_HASH_SQL, batchHash, type LedgerRow } from '../storage/ledger.ts';
import { isRetryable } from '../storage/store-error.ts';
import type { Collector } from './collector.ts';
import { RECORD_BATCH_STRUCTURE } from './record-batch.ts';

/** ClickHouse DateTime64(3) text for a Date, in UTC. */
export function chTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** A record the pipeline quarantined itself (too large, cut off), before it reached ClickHouse. */
export interface EarlyQuarantine {
  origin: string;
  position: string;
  reason: string;
  message: string;
  record: string;
}

export interface BatchInput {
  transport: string;
  /** The input, or a summary such as `3 inputs: a.json.gz .. c.json.gz` when the batch spans several. */
  origin: string;
  firstPosition: string;
  lastPosition: string;
  /** RowBinary rows (see record-batch.ts). */
  payload: Buffer;
  records: number;
  early: EarlyQuarantine[];
  startedAt: Date;
}

export interface BatchResult {
  batchId: string;
  seqno: number;
  records: number;
  normalized: number;
  inserted: number;
  duplicates: number;
  quarantined: Record<string, number>;
  dropped: Record<string, number>;
  hash: string;
}

export interface SinkContext {
  store: Store;
  collector: Collector;
  clock: Clock;
  tenants: Record<string, string>;
  defaultTenant: string;
  /** When not empty, the tenant of every event of the batch, whatever the record says. */
  forceTenant?: string;
  /** The chain head before this batch; updated by `writeBatch`. */
  head: { seqno: number; hash: string };
  /**
   * Set by `writeBatch`: the event_time span of the batch's normalized events (a superset of the
   * ones it stored), or undefined when it normalized none.
   */
  eventTimes?: { first: string; last: string } | undefined;
}


const KEY_EVENT_COLUMNS = KEY_EVENT_FIELDS.join(', ');
// Query-plan optimizations and the analyzer's AND-chain pass are off for the collectors' SELECTs:
// on their deep expression trees they cost 100-500 ms of planning per batch and gain nothing
// (bench/README.md).
const COLLECTOR_SETTINGS = 'query_plan_enable_optimizations = 0, optimize_and_compare_chain = 0';
// A forced tenant (fixed by an HTTP token or a Kafka topic) overrides what the collector derived.
const SELECT_COLUMNS = KEY_EVENT_FIELDS.map((c) => (c === 'tenant' ? `if({force_tenant:String} != '', {force_tenant:String}, tenant) AS tenant` : c)).join(', ');

/**
 * Writes one batch: raw records, normalized events (deduplicated on event_id against the store and
 * within the batch), quarantine rows, and the ledger row that extends the hash chain.
 * Retry rules live with the caller: a failure here can leave raw rows behind, but the batch is
 * not in the ledger, and re-ingesting the input adds no duplicate events.
 */
export async function writeBatch(ctx: SinkContext, b: BatchInput, batchId: string = randomUUID()): Promise<BatchResult> {
  const { store, collector } = ctx;
  const receivedAt = chTime(b.startedAt);
  const params = {
    batch_id: batchId,
    source: collector.source,
    transport: b.transport,
    origin: b.origin,
    received_time: receivedAt,
    ingest_time: chTime(ctx.clock.now()),
    tenants: ctx.tenants,
    default_tenant: ctx.defaultTenant,
    force_tenant: ctx.forceTenant ?? '',
  };

  const quarantined: Record<string, number> = {};
  const dropped: Record<string, number> = {};
  let normalized = 0;
  let inserted = 0;
  let first = '';
  let last = '';
  if (b.records > 0) {
    await store.withInput({ structure: RECORD_BATCH_STRUCTURE, format: 'RowBinary', payload: b.payload }, async (input) => {
      await store.exec(
        `INSERT INTO raw_events (batch_id, seq, source, transport, origin, position, received_time, sha256, record)
         SELECT {batch_id:String}, seq, {source:String}, {transport:String}, origin, position, {received_time:DateTime64(3)}, SHA256(record), record FROM ${input}`,
        params,
      );
      // Classification parses only the few fields it needs, once, into a small table; counts,
      // deduplication and quarantine read that. The full normalization then parses only the
      // records that become new events.
      const hex = batchId.replace(/-/g, '');
      const cls = `kw_cls_${hex}`;
      const fresh = `kw_new_${hex}`;
      try {
        await store.exec(`CREATE TABLE ${cls} ENGINE = Memory AS ${collector.classifySql(input)} SETTINGS ${COLLECTOR_SETTINGS}`);
        const counts = await store.query<{ status: string; reason: string; n: string; first: string; last: string }>(
          `SELECT _status AS status, _reason AS reason, count() AS n, toString(min(event_time)) AS first, toString(max(event_time)) AS last
           FROM ${cls} GROUP BY status, reason`,
        );
        for (const c of counts) {
          if (c.status === 'ok') {
            normalized += Number(c.n);
            if (first === '' || c.first < first) first = c.first;
            if (c.last > last) last = c.last;
          } else if (c.status === 'dropped') dropped[c.reason] = (dropped[c.reason] ?? 0) + Number(c.n);
          else quarantined[c.reason] = (quarantined[c.reason] ?? 0) + Number(c.n);
        }
        if (normalized > 0) {
          // One record per new event id: not in the store (looked up only in the batch's time span;
          // the event_time minmax index prunes the rest), and the first of any repeats in the batch.
          // A forced tenant (token, topic) is compared only with its own events: otherwise a sender
          // could learn whether another tenant holds an id, or pre-empt that tenant's real event.
          await store.exec(
            `CREATE TABLE ${fresh} ENGINE = Memory AS
             SELECT min(seq) AS seq FROM ${cls}
             WHERE _status = 'ok' AND event_id NOT IN (
               SELECT event_id FROM key_events WHERE event_time >= {first:DateTime64(3)} AND event_time <= {last:DateTime64(3)}
                 AND ({force_tenant:String} = '' OR tenant = {force_tenant:String}))
             GROUP BY event_id`,
            { first, last, force_tenant: ctx.forceTenant ?? '' },
          );
          const [row] = await store.query<{ n: string }>(`SELECT count() AS n FROM ${fresh}`);
          inserted = Number(row?.n ?? 0);
          if (inserted > 0) {
            // Query-plan optimizations are off for the collector's SELECTs: on their deep expression
            // plans they cost 100-400 ms per batch and gain nothing here (bench/README.md).
            await store.exec(
              `INSERT INTO key_events (${KEY_EVENT_COLUMNS})
               SELECT ${SELECT_COLUMNS} FROM (${collector.normalizeSql(`(SELECT * FROM ${input} WHERE seq IN ${fresh})`, input)})
               SETTINGS ${COLLECTOR_SETTINGS}`,
              params,
            );
          }
        }
        if (Object.keys(quarantined).length > 0) {
          await store.exec(
            `INSERT INTO quarantine (quarantine_time, batch_id, seq, source, transport, origin, position, reason, message, record)
             SELECT {ingest_time:DateTime64(3)}, {batch_id:String}, i.seq, {source:String}, {transport:String}, i.origin, i.position, q._reason, q._message, i.record
             FROM ${input} AS i
             INNER JOIN (SELECT seq, _reason, _message FROM ${cls} WHERE _status = 'quarantined') AS q ON i.seq = q.seq`,
            params,
          );
        }
      } finally {
        for (const t of [fresh, cls]) await store.exec(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
      }
    });
  }

  if (b.early.length > 0) {
    await store.insertRows(
      'quarantine',
      b.early.map((e) => ({
        quarantine_time: params.ingest_time,
        batch_id: batchId,
        seq: 0,
        source: collector.source,
        transport: b.transport,
        origin: e.origin,
        position: e.position,
        reason: e.reason,
        message: e.message,
        record: e.record,
      })),
    );
    for (const e of b.early) quarantined[e.reason] = (quarantined[e.reason] ?? 0) + 1;
  }

  const [content] = await store.query<{ h: string }>(`SELECT ${CONTENT_HASH_SQL} AS h FROM raw_events WHERE batch_id = {batch_id:String}`, params);
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);
  const row: Omit<LedgerRow, 'batch_hash'> = {
    seqno: ctx.head.seqno + 1,
    batch_id: batchId,
    source: collector.source,
    transport: b.transport,
    origin: b.origin,
    first_position: b.firstPosition,
    last_position: b.lastPosition,
    started_at: receivedAt,
    finished_at: chTime(ctx.clock.now()),
    records: b.records,
    normalized,
    inserted,
    duplicates: normalized - inserted,
    quarantined: sum(quarantined),
    dropped: sum(dropped),
    dropped_by_reason: dropped,
    content_sha256: content?.h ?? '',
    prev_hash: ctx.head.hash,
  };
  const hash = batchHash(row);
  await store.insertRows('ingest_batches', [{ ...row, batch_hash: hash }]);
  ctx.head = { seqno: row.seqno, hash };
  ctx.eventTimes = normalized > 0 ? { first, last } : undefined;
  return { batchId, seqno: row.seqno, records: b.records, normalized, inserted, duplicates: row.duplicates, quarantined, dropped, hash };
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; it doubles for each one after. */
  baseDelayMs: number;
  onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 1000 };

/**
 * writeBatch with the sink's retry rule: a lost connection or a timeout is retried with backoff;
 * anything else (bad data, a query ClickHouse rejects) fails at once, since repeating it cannot
 * help. Before each retry, what the failed attempt may have written is removed, so the retry
 * leaves neither duplicate raw records nor events pointing at them.
 */
export async function writeBatchWithRetry(ctx: SinkContext, b: BatchInput, policy: RetryPolicy = DEFAULT_RETRY): Promise<BatchResult> {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    const batchId = randomUUID();
    try {
      await discardLeftovers(ctx.store);
      return await writeBatch(ctx, b, batchId);
    } catch (e) {
      if (isRetryable(e)) leftovers.add(batchId);
      if (!isRetryable(e) || attempt >= policy.attempts) throw e;
      const delayMs = policy.baseDelayMs * 2 ** (attempt - 1);
      policy.onRetry?.({ attempt, delayMs, error: e as Error });
      await sleep(delayMs);
    }
  }
}

/**
 * Batches whose write failed on a lost connection and whose partial rows are not yet removed.
 * They are removed before the next write, and that write waits until they are: otherwise its
 * deduplication would take a failed batch's events for stored ones, and the removal after it
 * would lose them. Across a crash the ledger reports such rows as an interrupted ingest.
 */
const leftovers = new Set<string>();

async function discardLeftovers(store: SinkContext['store']): Promise<void> {
  for (const batchId of [...leftovers]) {
    for (const sql of [
      'DELETE FROM raw_events WHERE batch_id = {b:String}',
      'DELETE FROM quarantine WHERE batch_id = {b:String}',
      "DELETE FROM key_events WHERE startsWith(raw_id, concat({b:String}, ':'))",
    ]) {
      await store.exec(sql, { b: batchId });
    }
    leftovers.delete(batchId);
  }
}
