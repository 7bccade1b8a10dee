import type { Store } from '../storage/store.ts';
import type { Framed } from './framing.ts';

/**
 * A collector turns one producer's records into KeyEvents. Collectors normalize inside
 * ClickHouse: `normalizeSql` is a SELECT over a staged relation `(seq UInt32, origin String,
 * position String, record String)` that yields every key_events column plus `_status` ('ok' | 'dropped' |
 * 'quarantined'), `_reason`, `_message` and `seq`. Parameters it may use: {ingest_time:DateTime64(3)},
 * {batch_id:String}, {tenants:Map(String, String)}, {default_tenant:String}.
 */
export interface Collector {
  /** The `source` column value, e.g. `aws-kms`. */
  source: string;
  /** Names accepted by `keywatch ingest --format`. */
  formats: readonly string[];
  description: string;
  /** True when the first bytes of an input look like this collector's records. */
  sniff(head: string): boolean;
  /**
   * True when one framed record is this collector's. Auto-detection uses it to route the records
   * of a stream that mixes producers; it must be cheap (a few byte searches), since it runs on
   * every record of such a stream.
   */
  sniffRecord(record: Buffer): boolean;
  /**
   * Splits an input into records, for producers whose records are not JSON documents or lines
   * (multi-line text). Without it the generic framing (`framing.ts`) is used.
   */
  frame?(chunks: AsyncIterable<Buffer>, opts: { maxRecordBytes: number; origin: string }): AsyncGenerator<Framed[]>;
  /**
   * `stage` holds the records to normalize (those that become new events); `batch`, when given, is
   * the whole staged batch, for collectors that pair records (a Vault response with its request).
   */
  normalizeSql(stage: string, batch?: string): string;
  /**
   * A cheaper SELECT over the same relation that only classifies: seq, event_id, event_time,
   * _status, _reason, _message, with the same values normalizeSql gives. It gets no query
   * parameters. Code that runs collector SQL outside the sink should use the sink's settings
   * (`query_plan_enable_optimizations = 0`, `optimize_and_compare_chain = 0`): planning is slow without them.
   */
  classifySql(stage: string): string;
  /**
   * Runs once after an ingest run that stored events of this source, for checks that span
   * batches (such as sequence gaps in an HSM's audit stream). Returns the number of new findings.
   *
   * `run` says what the run wrote, so that the work scales with the run and not with the store (with
   * the HTTP and Kafka transports a run is one request or one fetched batch). Implementations
   * should find the streams (HSMs) that the run's events belong to (`touchedStreams` in
   * integrity-scope.ts), recompute findings over those streams only (over all their stored
   * history: a late record can fill an old gap) and reconcile only those streams' findings,
   * leaving every other stream's findings alone.
   */
  afterIngest?(store: Store, now: Date, run: IngestRun): Promise<number>;
}

/** What one ingest run wrote for one collector, as `Collector.afterIngest` is told. */
export interface IngestRun {
  /**
   * The ledger batches (`ingest_batches.batch_id`) this run wrote for this collector. The events
   * they stored have `key_events.raw_id` = `<batch_id>:<seq>`.
   */
  batchIds: string[];
  /**
   * The event_time span (ClickHouse DateTime64(3) text, UTC) of the events those batches
   * normalized, a superset of the ones they stored; absent when they normalized none. It lets a
   * lookup of the run's events prune partitions (key_events is partitioned by month of
   * event_time) instead of reading the whole source.
   */
  eventTimes?: { first: string; last: string };
}
