-- Billable metrics per (org_id, workspace_id, period): one row per trace and period, counted
-- with uniqExact at read time. A re-delivered row is the same (org, workspace, period, trace)
-- and counts once whether or not a merge has removed it yet, so the numbers are exact at read
-- time. (uniqExact states in an AggregatingMergeTree were exact too, but re-merging whole
-- trace-id sets on every background merge cost more CPU than the rest of the pipeline.)
CREATE TABLE IF NOT EXISTS {{database}}.billing_base_traces_v1
(
    org_id       String,
    workspace_id String,
    period       LowCardinality(String),
    trace_id     String
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, workspace_id, period, trace_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.billing_base_traces_mv_v1
TO {{database}}.billing_base_traces_v1
AS SELECT org_id, workspace_id, period, trace_id
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

CREATE TABLE IF NOT EXISTS {{database}}.billing_extended_upgrades_v1
(
    org_id       String,
    workspace_id String,
    period       LowCardinality(String),
    trace_id     String
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, workspace_id, period, trace_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.billing_extended_upgrades_mv_v1
TO {{database}}.billing_extended_upgrades_v1
AS SELECT org_id, workspace_id, period, trace_id
FROM {{database}}.retention_upgrades_v1;

-- What analysts query: one row per (org, workspace, period) with both metrics and the charges
-- in integer micro-dollars (base 500, upgrade 4,500 per trace).
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
    FROM {{database}}.billing_base_traces_v1
    GROUP BY org_id, workspace_id, period
    UNION ALL
    SELECT org_id, workspace_id, period, toUInt64(0) AS base, uniqExact(trace_id) AS upgrades
    FROM {{database}}.billing_extended_upgrades_v1
    GROUP BY org_id, workspace_id, period
)
GROUP BY org_id, workspace_id, period;
