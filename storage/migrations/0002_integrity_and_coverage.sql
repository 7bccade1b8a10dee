-- Audit-log integrity findings: evidence that records are missing from a producer's own log,
-- such as a gap or reset in an AWS CloudHSM stream's Sequence No. One row per finding; finding
-- the same gap again replaces the row rather than adding one.
-- shard-key: cityHash64(stream)
CREATE TABLE IF NOT EXISTS audit_integrity
(
    detected_time  DateTime64(3, 'UTC'),
    tenant         LowCardinality(String),
    source         LowCardinality(String),
    stream         String,
    kind           LowCardinality(String),
    epoch          String,
    from_position  UInt64,
    to_position    UInt64,
    missing        UInt64,
    before_time    DateTime64(3, 'UTC'),
    after_time     DateTime64(3, 'UTC'),
    before_event_id String,
    after_event_id String,
    detail         String
)
ENGINE = ReplacingMergeTree(detected_time)
ORDER BY (source, tenant, stream, kind, epoch, from_position, to_position);

-- Coverage gaps: a key that shows management activity but no data-plane use in a window, which
-- usually means the data-plane log (GCP Data Access, Azure AuditEvent) is switched off. Rewritten
-- for the evaluated window on each evaluation; `evaluated_time` tells runs apart.
-- shard-key: cityHash64(key_id)
CREATE TABLE IF NOT EXISTS coverage_gaps
(
    evaluated_time  DateTime64(3, 'UTC'),
    window_start    DateTime64(3, 'UTC'),
    window_end      DateTime64(3, 'UTC'),
    tenant          LowCardinality(String),
    source          LowCardinality(String),
    account         String,
    key_id          String,
    admin_events    UInt64,
    last_admin_time DateTime64(3, 'UTC'),
    data_events     UInt64,
    reason          LowCardinality(String),
    hint            String
)
ENGINE = ReplacingMergeTree(evaluated_time)
ORDER BY (tenant, source, key_id);
