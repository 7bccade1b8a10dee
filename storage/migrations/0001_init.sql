-- keywatch schema v1: raw receipts, normalized key events, quarantine, and the ingest hash chain.
-- Plain ClickHouse SQL. Each statement ends with ";" at the end of a line. The cluster writer
-- (storage/cluster-ddl.ts) rewrites MergeTree tables into Replicated + Distributed pairs and reads
-- the "-- shard-key:" comments below.

-- Every record exactly as it was received, before any parsing. raw_id = batch_id:seq.
-- shard-key: cityHash64(batch_id)
CREATE TABLE IF NOT EXISTS raw_events
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_time)
ORDER BY (batch_id, seq)
-- A merge holds one block per source part; with ~1.3 KB records the default blocks made merges of
-- many small ingest parts take hundreds of MB. Smaller blocks and fewer parts per merge bound it.
SETTINGS merge_max_block_size = 1024, max_parts_to_merge_at_once = 16;

-- One row per normalized event. Insert-time dedup keeps event_id unique; ReplacingMergeTree is
-- the second line of defence if two writers race.
-- shard-key: cityHash64(key_id)
CREATE TABLE IF NOT EXISTS key_events
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
ENGINE = ReplacingMergeTree(ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant, key_id, event_time, event_id)
SETTINGS merge_max_block_size = 2048, max_parts_to_merge_at_once = 16,
    deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild';

-- Records that could not be normalized, with the reason. Nothing is dropped silently.
-- shard-key: rand()
CREATE TABLE IF NOT EXISTS quarantine
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(quarantine_time)
ORDER BY (source, reason, quarantine_time);

-- The ingest ledger: one row per batch, hash-chained (batch_hash covers prev_hash), so that an
-- altered or deleted batch is evident to `keywatch verify-chain`.
-- shard-key: 0
CREATE TABLE IF NOT EXISTS ingest_batches
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
ENGINE = MergeTree
ORDER BY seqno;
