-- Run data of the LangSmith API (spec §8, §9): one row per creation and per distinct update of a
-- run, written by the sink from the runs topic. Each row carries its expiry (R1: 14 days from
-- the trace's creation for a base trace, 400 for an extended one) and ClickHouse deletes it by
-- TTL when it merges; no job scans for expired rows. An upgrade adds a copy of the trace's rows
-- with the later expiry (the sink's run retention pass, every few seconds):
-- ReplacingMergeTree(expires_at) keeps the later copy when both meet in a merge, and TTL
-- deletes the earlier one if they never do. Readers take, per part, the row
-- with the latest expiry that is still in the future. Rows are deleted no earlier than a day
-- after they arrived: runs sent late (after their base retention ran out) still meet an upgrade
-- that arrives with them, a little later; they are not served meanwhile. Billing tables have no
-- TTL (R2).
CREATE TABLE IF NOT EXISTS {{database}}.runs_v1
(
    org_id           String,
    workspace_id     String,
    trace_id         String,
    run_id           String,
    part             String,
    trace_created_at DateTime64(3, 'UTC'),
    expires_at       DateTime64(3, 'UTC'),
    run              String CODEC(ZSTD(3)),
    attachments      String CODEC(ZSTD(3)),
    received_at      DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX run_id_bloom run_id TYPE bloom_filter GRANULARITY 1,
    INDEX ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(expires_at)
PARTITION BY toYYYYMM(trace_created_at)
ORDER BY (org_id, trace_id, run_id, part)
TTL toDateTime(greatest(expires_at, received_at + INTERVAL 1 DAY)) DELETE;

-- The run retention pass reads upgrades and runs by the time the sink wrote them.
ALTER TABLE {{database}}.retention_upgrades_v1 ADD INDEX IF NOT EXISTS ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1;

-- Where the sink's periodic passes got to (the run retention pass: rows written before `done_to`
-- were looked at). The latest row per name wins.
CREATE TABLE IF NOT EXISTS {{database}}.sink_checkpoints_v1
(
    name    String,
    done_to DateTime64(3, 'UTC'),
    at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(at)
ORDER BY name;
