import type { Store } from '../storage/store.ts';
import type { IngestRun } from './collector.ts';

/**
 * The streams (HSMs) that one ingest run's events belong to: the distinct non-empty values of
 * `streamSql` (an expression over key_events, such as `attributes['stream']`) among the events of
 * `source` that the run's batches stored (`raw_id` = `<batch_id>:<seq>`). With the run's
 * event_time span the lookup reads only the partitions and granules of that span (key_events is
 * partitioned by month of event_time and has a minmax index on it), so its cost follows the run.
 *
 * @example const streams = await touchedStreams(store, 'aws-cloudhsm', "attributes['stream']", run);
 */
export async function touchedStreams(store: Store, source: string, streamSql: string, run: IngestRun): Promise<string[]> {
  if (run.batchIds.length === 0) return [];
  const span = run.eventTimes ? 'AND event_time >= {first:DateTime64(3)} AND event_time <= {last:DateTime64(3)}' : '';
  const rows = await store.query<{ stream: string }>(
    `SELECT DISTINCT ${streamSql} AS stream FROM key_events
     WHERE source = {source:String} ${span} AND splitByChar(':', raw_id)[1] IN {ids:Array(String)} AND stream != ''
     ORDER BY stream`,
    { source, ids: run.batchIds, ...(run.eventTimes ? { first: run.eventTimes.first, last: run.eventTimes.last } : {}) },
  );
  return rows.map((r) => r.stream);
}
