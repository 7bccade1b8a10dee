-- 0001_init
CREATE TABLE IF NOT EXISTS keywatch.raw_events_local ON CLUSTER 'prod'
(
    batch_id      String,
    seq           UInt32,
    source        LowCardinality(String),
    transport     LowCardinality(String),
    origin        String,
    position      String,
    received_time DateTime64(3, 'UTC'),
    sha256        FixedString(32),
    record        String CODEC(ZSTD(1))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/keywatch/raw_events_local', '{replica}')
PARTITION BY toYYYYMM(received_time)
ORDER BY (batch_id, seq)
-- A merge holds one block per source part; with ~1.3 KB records the default blocks made merges of
-- many small ingest parts take hundreds of MB. Smaller blocks and fewer parts per merge bound it.
SETTINGS merge_max_block_size = 1024, max_parts_to_merge_at_once = 16;

CREATE TABLE IF NOT EXISTS keywatch.raw_events ON CLUSTER 'prod'
AS keywatch.raw_events_local
ENGINE = Distributed('prod', 'keywatch', 'raw_events_local', cityHash64(batch_id));

CREATE TABLE IF NOT EXISTS keywatch.key_events_local ON CLUSTER 'prod'
(
    event_id         String,
    event_time       DateTime64(3, 'UTC'),
    ingest_time      DateTime64(3, 'UTC'),
    source           LowCardinality(String),
    tenant           LowCardinality(String),
    account          LowCardinality(String),
    region           LowCardinality(String),
    key_id           String,
    key_version      String,
    operation        LowCardinality(String),
    operation_class  LowCardinality(String),
    vendor_operation LowCardinality(String),
    principal        String,
    principal_type   LowCardinality(String),
    source_ip        String,
    user_agent       String,
    outcome          LowCardinality(String),
    error_code       LowCardinality(String),
    latency_ms       Nullable(Float64),
    request_id       String,
    attributes       Map(String, String),
    raw_id           String,
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_principal principal TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_event_time event_time TYPE minmax GRANULARITY 1,
    -- Ingest dedup looks up the event ids of a time span; sorted by time, that reads only the span,
    -- however large the table grows (the main order puts each key's whole history together).
    PROJECTION ids_by_time (SELECT event_time, event_id ORDER BY event_time)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/key_events_local', '{replica}', ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant, key_id, event_time, event_id)
SETTINGS merge_max_block_size = 2048, max_parts_to_merge_at_once = 16,
    deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild';

CREATE TABLE IF NOT EXISTS keywatch.key_events ON CLUSTER 'prod'
AS keywatch.key_events_local
ENGINE = Distributed('prod', 'keywatch', 'key_events_local', cityHash64(key_id));

CREATE TABLE IF NOT EXISTS keywatch.quarantine_local ON CLUSTER 'prod'
(
    quarantine_time DateTime64(3, 'UTC'),
    batch_id        String,
    seq             UInt32,
    source          LowCardinality(String),
    transport       LowCardinality(String),
    origin          String,
    position        String,
    reason          LowCardinality(String),
    message         String,
    record          String CODEC(ZSTD(1))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/keywatch/quarantine_local', '{replica}')
PARTITION BY toYYYYMM(quarantine_time)
ORDER BY (source, reason, quarantine_time);

CREATE TABLE IF NOT EXISTS keywatch.quarantine ON CLUSTER 'prod'
AS keywatch.quarantine_local
ENGINE = Distributed('prod', 'keywatch', 'quarantine_local', rand());

CREATE TABLE IF NOT EXISTS keywatch.ingest_batches_local ON CLUSTER 'prod'
(
    seqno            UInt64,
    batch_id         String,
    source           LowCardinality(String),
    transport        LowCardinality(String),
    origin           String,
    first_position   String,
    last_position    String,
    started_at       DateTime64(3, 'UTC'),
    finished_at      DateTime64(3, 'UTC'),
    records          UInt64,
    normalized       UInt64,
    inserted         UInt64,
    duplicates       UInt64,
    quarantined      UInt64,
    dropped          UInt64,
    dropped_by_reason Map(String, UInt64),
    content_sha256   String,
    prev_hash        String,
    batch_hash       String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/keywatch/ingest_batches_local', '{replica}')
ORDER BY seqno;

CREATE TABLE IF NOT EXISTS keywatch.ingest_batches ON CLUSTER 'prod'
AS keywatch.ingest_batches_local
ENGINE = Distributed('prod', 'keywatch', 'ingest_batches_local', 0);

-- 0002_integrity_and_coverage
CREATE TABLE IF NOT EXISTS keywatch.audit_integrity_local ON CLUSTER 'prod'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/audit_integrity_local', '{replica}', detected_time)
ORDER BY (source, tenant, stream, kind, epoch, from_position, to_position);

CREATE TABLE IF NOT EXISTS keywatch.audit_integrity ON CLUSTER 'prod'
AS keywatch.audit_integrity_local
ENGINE = Distributed('prod', 'keywatch', 'audit_integrity_local', cityHash64(stream));

CREATE TABLE IF NOT EXISTS keywatch.coverage_gaps_local ON CLUSTER 'prod'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/coverage_gaps_local', '{replica}', evaluated_time)
ORDER BY (tenant, source, key_id);

CREATE TABLE IF NOT EXISTS keywatch.coverage_gaps ON CLUSTER 'prod'
AS keywatch.coverage_gaps_local
ENGINE = Distributed('prod', 'keywatch', 'coverage_gaps_local', cityHash64(key_id));

-- 0003_alerts
CREATE TABLE IF NOT EXISTS keywatch.alerts_local ON CLUSTER 'prod'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/alerts_local', '{replica}', detected_time)
PARTITION BY toYYYYMM(first_time)
ORDER BY (tenant, detector, alert_id);

CREATE TABLE IF NOT EXISTS keywatch.alerts ON CLUSTER 'prod'
AS keywatch.alerts_local
ENGINE = Distributed('prod', 'keywatch', 'alerts_local', cityHash64(alert_id));

CREATE TABLE IF NOT EXISTS keywatch.detector_state_local ON CLUSTER 'prod'
(
    detector        LowCardinality(String),
    run_time        DateTime64(3, 'UTC'),
    watermark       DateTime64(3, 'UTC'),
    alerts          UInt64,
    seconds         Float64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/keywatch/detector_state_local', '{replica}')
ORDER BY (detector, run_time);

CREATE TABLE IF NOT EXISTS keywatch.detector_state ON CLUSTER 'prod'
AS keywatch.detector_state_local
ENGINE = Distributed('prod', 'keywatch', 'detector_state_local', 0);

-- 0004_alert_outbox
CREATE TABLE IF NOT EXISTS keywatch.alert_outbox_local ON CLUSTER 'prod'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/alert_outbox_local', '{replica}', version)
ORDER BY (destination, alert_id, revision);

CREATE TABLE IF NOT EXISTS keywatch.alert_outbox ON CLUSTER 'prod'
AS keywatch.alert_outbox_local
ENGINE = Distributed('prod', 'keywatch', 'alert_outbox_local', cityHash64(alert_id));

-- 0005_slo
ALTER TABLE keywatch.alerts_local ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS resolved_time Nullable(DateTime64(3, 'UTC'));

ALTER TABLE keywatch.alerts ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS resolved_time Nullable(DateTime64(3, 'UTC'));

CREATE TABLE IF NOT EXISTS keywatch.slo_status_local ON CLUSTER 'prod'
(
    evaluated_time    DateTime64(3, 'UTC'),
    slo               LowCardinality(String),
    display_name      String,
    period            LowCardinality(String),
    objective         Float64,
    tenant            LowCardinality(String),
    source            LowCardinality(String),
    region            LowCardinality(String),
    key_id            String,
    state             LowCardinality(String),
    budget_remaining  Nullable(Float64),
    good              Map(LowCardinality(String), UInt64),
    total             Map(LowCardinality(String), UInt64),
    error_ratio       Map(LowCardinality(String), Nullable(Float64)),
    burn_rate         Map(LowCardinality(String), Nullable(Float64)),
    firing            Array(LowCardinality(String)),
    written_time      DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/slo_status_local', '{replica}', written_time)
PARTITION BY toYYYYMM(evaluated_time)
ORDER BY (slo, tenant, source, region, key_id, evaluated_time)
TTL toDateTime(evaluated_time) + INTERVAL 400 DAY;

CREATE TABLE IF NOT EXISTS keywatch.slo_status ON CLUSTER 'prod'
AS keywatch.slo_status_local
ENGINE = Distributed('prod', 'keywatch', 'slo_status_local', cityHash64(slo, key_id));

-- 0006_attestations
CREATE TABLE IF NOT EXISTS keywatch.attestations_local ON CLUSTER 'prod'
(
    verified_at     DateTime64(3, 'UTC'),
    tenant          LowCardinality(String),
    key_id          String,
    format          LowCardinality(String),
    verdict         LowCardinality(String),
    policy          LowCardinality(String),
    failed_checks   Array(String),
    warnings        Array(String),
    evidence        String,
    anchors         Array(String),
    input_sha256    String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/keywatch/attestations_local', '{replica}', verified_at)
ORDER BY (tenant, key_id, format, verified_at);

CREATE TABLE IF NOT EXISTS keywatch.attestations ON CLUSTER 'prod'
AS keywatch.attestations_local
ENGINE = Distributed('prod', 'keywatch', 'attestations_local', cityHash64(key_id));
