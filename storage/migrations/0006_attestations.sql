-- One row per attestation check (`keywatch attest marvell | pkcs11 | import-check`): which key,
-- which proof format, the verdict (pass / fail / policy-fail), the stable codes of the failed checks
-- (attestation/codes.ts), warnings, the evidence record as JSON (attributes, KCV, sizes; never key
-- material), the pinned anchors the chains ended in, and SHA-256 of the verified input(s). A check
-- repeated at the same instant for the same key and format replaces its row.
-- shard-key: cityHash64(key_id)
CREATE TABLE IF NOT EXISTS attestations
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
ENGINE = ReplacingMergeTree(verified_at)
ORDER BY (tenant, key_id, format, verified_at);
