-- Account events (spec §7): organizations, workspaces, projects and API keys, one row per event,
-- written by the sink from the accounts topic. Every ingest replica folds them, in log order
-- (kafka_partition, kafka_offset; one organization's events share a partition), into its cache.
-- Keys appear only as `key_hash` (sha256): no table holds a key. Re-deliveries carry the same
-- (org_id, id) and replace themselves; read with FINAL.
CREATE TABLE IF NOT EXISTS {{database}}.account_events_v1
(
    org_id                   String,
    id                       String,
    type                     LowCardinality(String),
    occurred_at              DateTime64(3, 'UTC'),
    workspace_id             String DEFAULT '',
    project_id               String DEFAULT '',
    plan                     LowCardinality(String) DEFAULT '',
    payment_method           Nullable(Bool),
    events_per_hour          Nullable(UInt64),
    bytes_per_hour           Nullable(UInt64),
    seat_price_usd           Nullable(String),
    free_base_traces         Nullable(UInt64),
    base_trace_price_usd     Nullable(String),
    upgrade_price_usd        Nullable(String),
    deployment_run_price_usd Nullable(String),
    all_traces_limit         Nullable(UInt64),
    extended_traces_limit    Nullable(UInt64),
    default_retention        LowCardinality(String) DEFAULT '',
    key_id                   String DEFAULT '',
    key_hash                 String DEFAULT '',
    kind                     LowCardinality(String) DEFAULT '',
    user_id                  String DEFAULT '',
    received_at              DateTime64(3, 'UTC'),
    ingested_at              DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_partition          UInt32,
    kafka_offset             UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, id);

-- Limits rebuild their monthly and hourly counters from here when Redis starts empty: trace
-- creations and events by the ledger's clock at arrival (`received_at`).
ALTER TABLE {{database}}.trace_events_v1 ADD INDEX IF NOT EXISTS received_at_minmax received_at TYPE minmax GRANULARITY 1;
