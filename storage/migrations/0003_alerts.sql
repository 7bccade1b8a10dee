-- The alert feed: one row per alert. alert_id is derived from the detector, tenant, key,
-- principal, group and time bucket, so re-running a detector over the same events replaces its
-- alerts instead of adding new ones.
-- shard-key: cityHash64(alert_id)
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id        String,
    detected_time   DateTime64(3, 'UTC'),
    detector        LowCardinality(String),
    title           String,
    severity        LowCardinality(String),
    score           Float64,
    tenant          LowCardinality(String),
    key_id          String,
    principal       String,
    first_time      DateTime64(3, 'UTC'),
    last_time       DateTime64(3, 'UTC'),
    event_count     UInt64,
    event_ids       Array(String),
    evidence        String,
    runbook         String,
    status          LowCardinality(String),
    suppressed_by   String
)
ENGINE = ReplacingMergeTree(detected_time)
PARTITION BY toYYYYMM(first_time)
ORDER BY (tenant, detector, alert_id);

-- One row per detector run: the ingest-time watermark up to which events have been examined.
-- shard-key: 0
CREATE TABLE IF NOT EXISTS detector_state
(
    detector        LowCardinality(String),
    run_time        DateTime64(3, 'UTC'),
    watermark       DateTime64(3, 'UTC'),
    alerts          UInt64,
    seconds         Float64
)
ENGINE = MergeTree
ORDER BY (detector, run_time);
