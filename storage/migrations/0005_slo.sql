-- When an alert was resolved: SLO burn-rate alerts resolve themselves when the short window
-- recovers; detector alerts are resolved by an analyst. The alert-recovery SLI reads it.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS resolved_time Nullable(DateTime64(3, 'UTC'));

-- One row per SLO evaluation and group: its state, the remaining error budget over the period, and
-- per window (maps keyed by the window, e.g. good['1h'], burn_rate['5m']) the counts behind the
-- SLI, the error ratio and the burn rate. Dashboards read the newest evaluation per SLO and group.
-- Columns of dimensions the SLO is not grouped by are empty. A burn rate is +inf when an SLO with a
-- 100% objective had a bad event; it is NULL, as the error ratio, when the window had no events,
-- and budget_remaining is NULL when the period had none. Re-evaluating the same instant replaces
-- its rows. History is kept 400 days, enough for the quarterly reports of a year.
-- shard-key: cityHash64(slo, key_id)
CREATE TABLE IF NOT EXISTS slo_status
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
ENGINE = ReplacingMergeTree(written_time)
PARTITION BY toYYYYMM(evaluated_time)
ORDER BY (slo, tenant, source, region, key_id, evaluated_time)
TTL toDateTime(evaluated_time) + INTERVAL 400 DAY;
