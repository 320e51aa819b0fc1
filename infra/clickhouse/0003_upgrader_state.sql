-- The upgrader's per-trace state (rules U1–U5), written before it commits its offsets and read
-- through a per-partition cache, so any instance can take over a partition after a crash or
-- rebalance. `facts` counts what is known (creation, upgrade): state only grows, so the row
-- with the most facts is the newest. Bounded by TTL: a trace untouched for 430 days (the
-- 400-day extended retention plus a margin) is forgotten. `kafka_partition` and
-- `partition_count` say which partition of the trace-events topic owns the trace, so an
-- upgrader taking a partition over can load all of that partition's states at once.
CREATE TABLE IF NOT EXISTS {{database}}.upgrader_trace_state_v1
(
    org_id       String,
    trace_id     String,
    workspace_id String,
    created_at   Nullable(DateTime64(3, 'UTC')),
    retention    LowCardinality(String),
    upgraded_at  Nullable(DateTime64(3, 'UTC')),
    facts        UInt8,
    kafka_partition UInt32,
    partition_count UInt32,
    stored_at    DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(facts)
ORDER BY (org_id, trace_id)
TTL stored_at + INTERVAL 430 DAY;
