-- The alert outbox: one entry per alert revision and destination (webhook, kafka, file), so that
-- sending alerts survives a restart and every open alert reaches each destination at least once.
--
-- ClickHouse has no transactions, so every change of an entry is a new row that replaces the one
-- before it (ReplacingMergeTree keyed by destination, alert_id, revision; read with FINAL):
--   version = 2 * attempts + (1 when delivered or dead, else 0)
-- grows with each attempt, so a late or repeated write of an older state never wins, a terminal
-- state wins a tie with a failed attempt of the same number, and re-enqueueing an entry (version 0)
-- never undoes a delivery. `revision` is a hash of the alert's content: an alert that grows in a
-- later run is a new entry (sent as an update), one found again unchanged is not sent again.
-- Each row carries the alert as it was enqueued, so delivery never depends on the alerts table.
-- shard-key: cityHash64(alert_id)
CREATE TABLE IF NOT EXISTS alert_outbox
(
    destination        LowCardinality(String),
    alert_id           String,
    revision           String,
    enqueued_time      DateTime64(3, 'UTC'),
    alert              String,
    version            UInt64,
    state              LowCardinality(String),
    attempts           UInt32,
    next_attempt_time  DateTime64(3, 'UTC'),
    last_attempt_time  Nullable(DateTime64(3, 'UTC')),
    delivered_time     Nullable(DateTime64(3, 'UTC')),
    last_status        UInt16,
    last_error         String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (destination, alert_id, revision);
