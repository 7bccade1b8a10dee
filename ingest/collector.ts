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
  normalizeSql(stage: string): string;
  /**
   * A cheaper SELECT over the same relation that only classifies: seq, event_id, event_time,
   * _status, _reason, _message, with the same values normalizeSql gives.
   */
  classifySql(stage: string): string;
}
