-- Billable metrics per (org_id, workspace_id, period). uniqExact states make a re-delivered
-- row harmless at read time: merging the states counts each trace once, merged parts or not.
CREATE TABLE IF NOT EXISTS {{database}}.billing_base_traces_v1
(
    org_id       String,
    workspace_id String,
    period       String,
    traces       AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (org_id, workspace_id, period);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.billing_base_traces_mv_v1
TO {{database}}.billing_base_traces_v1
AS SELECT org_id, workspace_id, period, uniqExactState(trace_id) AS traces
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created'
GROUP BY org_id, workspace_id, period;

CREATE TABLE IF NOT EXISTS {{database}}.billing_extended_upgrades_v1
(
    org_id       String,
    workspace_id String,
    period       String,
    traces       AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (org_id, workspace_id, period);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.billing_extended_upgrades_mv_v1
TO {{database}}.billing_extended_upgrades_v1
AS SELECT org_id, workspace_id, period, uniqExactState(trace_id) AS traces
FROM {{database}}.retention_upgrades_v1
GROUP BY org_id, workspace_id, period;

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
    SELECT org_id, workspace_id, period, uniqExactMerge(traces) AS base, toUInt64(0) AS upgrades
    FROM {{database}}.billing_base_traces_v1
    GROUP BY org_id, workspace_id, period
    UNION ALL
    SELECT org_id, workspace_id, period, toUInt64(0) AS base, uniqExactMerge(traces) AS upgrades
    FROM {{database}}.billing_extended_upgrades_v1
    GROUP BY org_id, workspace_id, period
)
GROUP BY org_id, workspace_id, period;
