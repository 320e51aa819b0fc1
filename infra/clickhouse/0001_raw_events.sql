-- The audit trail: every accepted input event, every upgrade and every refused trigger, with the
-- time the sink wrote it. Re-deliveries carry the same (org_id, id) and replace themselves on
-- merge; the billing views below are exact before any merge happens.
CREATE TABLE IF NOT EXISTS {{database}}.trace_events_v1
(
    org_id        String,
    id            String,
    type          LowCardinality(String),
    occurred_at   DateTime64(3, 'UTC'),
    period        LowCardinality(String),
    workspace_id  String,
    trace_id      String,
    project_id    String DEFAULT '',
    retention     LowCardinality(String) DEFAULT '',
    run_id        String DEFAULT '',
    feedback_id   String DEFAULT '',
    queue_id      String DEFAULT '',
    rule_id       String DEFAULT '',
    received_at   DateTime64(3, 'UTC'),
    ingested_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_partition UInt32,
    kafka_offset  UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY period
ORDER BY (org_id, id);

CREATE TABLE IF NOT EXISTS {{database}}.retention_upgrades_v1
(
    org_id         String,
    id             String,
    occurred_at    DateTime64(3, 'UTC'),
    period         LowCardinality(String),
    workspace_id   String,
    trace_id       String,
    cause_type     LowCardinality(String),
    cause_event_id String,
    received_at    DateTime64(3, 'UTC'),
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY period
ORDER BY (org_id, id);

CREATE TABLE IF NOT EXISTS {{database}}.trigger_rejections_v1
(
    org_id           String,
    event_id         String,
    type             LowCardinality(String),
    occurred_at      DateTime64(3, 'UTC'),
    workspace_id     String,
    trace_id         String,
    reason           LowCardinality(String),
    trace_created_at DateTime64(3, 'UTC'),
    expired_at       DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, event_id);
