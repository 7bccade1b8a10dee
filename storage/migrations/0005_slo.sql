-- When an alert was resolved: SLO burn-rate alerts resolve themselves when the short window
-- recovers; detector alerts are resolved by an analyst. The alert-recovery SLI reads it.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS resolved_time Nullable(DateTime64(3, 'UTC'));

-- One row per SLO evaluation, group and window: the counts behind the SLI, the error ratio and
-- burn rate over the window, and the SLO's remaining error budget over its period (the same on
-- every window row of one evaluation). Dashboards read the newest evaluation per SLO and group.
-- Columns of dimensions the SLO is not grouped by are empty. burn_rate is +inf when an SLO with a
-- 100% objective had a bad event, NULL (as error_ratio and budget_remaining) when the window had
-- no events. Re-evaluating the same instant replaces its rows. History is kept 400 days, enough
-- for the quarterly reports of a year.
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
    window_name       LowCardinality(String),
    window_seconds    UInt32,
    good              UInt64,
    total             UInt64,
    error_ratio       Nullable(Float64),
    burn_rate         Nullable(Float64),
    budget_remaining  Nullable(Float64),
    state             LowCardinality(String),
    written_time      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(written_time)
PARTITION BY toYYYYMM(evaluated_time)
ORDER BY (slo, tenant, source, region, key_id, window_name, evaluated_time)
TTL toDateTime(evaluated_time) + INTERVAL 400 DAY;
