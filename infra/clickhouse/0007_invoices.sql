-- Invoices (spec §10): billing events, the period an effect is booked on, the markers every
-- consumer has passed, and the frozen invoices of closed periods.
--
-- booked_period: the invoice an effect is billed on (C2, C4). Equal to its period when its cause
-- came before the period's `period-closed` marker in its partition, else the first period that
-- was open there. Rows written before this migration were all in time.
ALTER TABLE {{database}}.trace_events_v1 ADD COLUMN IF NOT EXISTS booked_period LowCardinality(String) DEFAULT period;

ALTER TABLE {{database}}.retention_upgrades_v1 ADD COLUMN IF NOT EXISTS booked_period LowCardinality(String) DEFAULT period;

-- Billing events travel on the input topic and land in trace_events_v1 with trace events (the
-- audit trail of the input topic; one insert per batch whatever it holds), with their own fields.
ALTER TABLE {{database}}.trace_events_v1 ADD COLUMN IF NOT EXISTS user_id String DEFAULT '';

ALTER TABLE {{database}}.trace_events_v1 ADD COLUMN IF NOT EXISTS deployment_id String DEFAULT '';

-- Seat and deployment-run events (§10.2), from trace_events_v1 by a materialized view. Every
-- delivery is a row (the key holds the Kafka position): the first delivery of an id decides its
-- log position and its booking, so a retry that arrives after a close cannot move an in-time
-- event onto a later invoice.
CREATE TABLE IF NOT EXISTS {{database}}.billing_events_v1
(
    org_id          String,
    id              String,
    type            LowCardinality(String),
    occurred_at     DateTime64(3, 'UTC'),
    period          LowCardinality(String),
    booked_period   LowCardinality(String),
    workspace_id    String DEFAULT '',
    user_id         String DEFAULT '',
    deployment_id   String DEFAULT '',
    run_id          String DEFAULT '',
    received_at     DateTime64(3, 'UTC'),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, id, kafka_partition, kafka_offset);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.billing_events_mv_v1
TO {{database}}.billing_events_v1
AS SELECT org_id, id, type, occurred_at, period, booked_period, workspace_id, user_id, deployment_id, run_id, received_at, kafka_partition, kafka_offset
FROM {{database}}.trace_events_v1
WHERE type IN ('seat-added', 'seat-removed', 'deployment-run');

-- One row per (trace, booking): ReplacingMergeTree on the whole key keeps every distinct
-- booking, and an invoice takes each trace's earliest (a redelivery after a close books nothing).
CREATE TABLE IF NOT EXISTS {{database}}.invoice_base_traces_v1
(
    org_id        String,
    period        LowCardinality(String),
    workspace_id  String,
    trace_id      String,
    booked_period LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, period, workspace_id, trace_id, booked_period);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.invoice_base_traces_mv_v1
TO {{database}}.invoice_base_traces_v1
AS SELECT org_id, period, workspace_id, trace_id, booked_period
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

INSERT INTO {{database}}.invoice_base_traces_v1
SELECT org_id, period, workspace_id, trace_id, booked_period
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

CREATE TABLE IF NOT EXISTS {{database}}.invoice_extended_upgrades_v1
(
    org_id        String,
    period        LowCardinality(String),
    workspace_id  String,
    trace_id      String,
    booked_period LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, period, workspace_id, trace_id, booked_period);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.invoice_extended_upgrades_mv_v1
TO {{database}}.invoice_extended_upgrades_v1
AS SELECT org_id, period, workspace_id, trace_id, booked_period
FROM {{database}}.retention_upgrades_v1;

INSERT INTO {{database}}.invoice_extended_upgrades_v1
SELECT org_id, period, workspace_id, trace_id, booked_period
FROM {{database}}.retention_upgrades_v1;

-- Markers each consumer has passed, with their position: after a restart a consumer knows which
-- periods were closed before the offset it resumes from (and only those), so "late" is decided
-- the same way after every crash and replay. A row is written after the effects before it.
CREATE TABLE IF NOT EXISTS {{database}}.period_marks_v1
(
    consumer        LowCardinality(String),
    topic           LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    period          String,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (consumer, topic, kafka_partition, kafka_offset);

-- Periods the ledger closed (markers written to every partition), and how.
CREATE TABLE IF NOT EXISTS {{database}}.period_closes_v1
(
    period    String,
    how       LowCardinality(String),
    closed_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY period;

-- Final invoices (C3): written once every consumer has passed the period's marker on every
-- partition; the same lines whenever they are written again, so a repeated freeze is harmless.
CREATE TABLE IF NOT EXISTS {{database}}.invoice_lines_v1
(
    org_id            String,
    period            String,
    line_no           UInt32,
    kind              LowCardinality(String),
    usage_period      String,
    adjusts           LowCardinality(String) DEFAULT '',
    user_id           String DEFAULT '',
    at                String DEFAULT '',
    quantity          Int64,
    free_quantity     Int64,
    unit_price_micros Int64,
    amount_micros     Int64,
    frozen_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, period, line_no);

CREATE TABLE IF NOT EXISTS {{database}}.frozen_periods_v1
(
    period    String,
    orgs      UInt32,
    frozen_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY period;

-- Price catalogue versions after §10.1's defaults (version 1, built in): each names the first
-- period it applies to; one for a closed period is refused before it is written.
CREATE TABLE IF NOT EXISTS {{database}}.price_catalogue_v1
(
    version      UInt32,
    first_period String,
    plans        String,
    created_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version;

-- One materialized view per metric, not two: billing_base_traces_v1 and
-- billing_extended_upgrades_v1 become views over the booking tables (each trace counted once
-- by uniqExact whatever its bookings), so /v1/usage and invoices read the same rows and every
-- insert feeds one table per metric, as before. billing_usage_v1 is recreated unchanged.
DROP VIEW IF EXISTS {{database}}.billing_usage_v1;

DROP VIEW IF EXISTS {{database}}.billing_base_traces_mv_v1;

DROP VIEW IF EXISTS {{database}}.billing_extended_upgrades_mv_v1;

DROP TABLE IF EXISTS {{database}}.billing_base_traces_v1;

DROP TABLE IF EXISTS {{database}}.billing_extended_upgrades_v1;

CREATE VIEW IF NOT EXISTS {{database}}.billing_base_traces_v1 AS
SELECT org_id, workspace_id, period, trace_id FROM {{database}}.invoice_base_traces_v1;

CREATE VIEW IF NOT EXISTS {{database}}.billing_extended_upgrades_v1 AS
SELECT org_id, workspace_id, period, trace_id FROM {{database}}.invoice_extended_upgrades_v1;

CREATE VIEW IF NOT EXISTS {{database}}.billing_usage_v1 AS
SELECT
    org_id,
    workspace_id,
    period,
    sum(base) AS base_traces,
    sum(upgrades) AS extended_upgrades,
    sum(base) * 500 AS base_charge_micros,
    sum(upgrades) * 4500 AS upgrade_charge_micros
FROM
(
    SELECT org_id, workspace_id, period, uniqExact(trace_id) AS base, toUInt64(0) AS upgrades
    FROM {{database}}.invoice_base_traces_v1
    GROUP BY org_id, workspace_id, period
    UNION ALL
    SELECT org_id, workspace_id, period, toUInt64(0) AS base, uniqExact(trace_id) AS upgrades
    FROM {{database}}.invoice_extended_upgrades_v1
    GROUP BY org_id, workspace_id, period
)
GROUP BY org_id, workspace_id, period;
