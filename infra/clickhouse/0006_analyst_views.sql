-- Views for analysts (stable names, versioned by suffix: a change of meaning gets a new
-- version; a faster implementation keeps the name).
--
-- daily_usage_v1: one row per (org, workspace, UTC day) with a billable effect: base traces by
-- the day of their creation, extended upgrades by the day of the upgrade (the same instants that
-- put them in their billing period, so a period's days add up to billing_usage_v1). Each trace
-- counts once per day however often its rows were delivered.
CREATE VIEW IF NOT EXISTS {{database}}.daily_usage_v1 AS
SELECT
    org_id,
    workspace_id,
    day,
    toStartOfMonth(day) AS period_start,
    sum(base) AS base_traces,
    sum(upgrades) AS extended_upgrades
FROM
(
    SELECT org_id, workspace_id, toDate(occurred_at, 'UTC') AS day, uniqExact(trace_id) AS base, toUInt64(0) AS upgrades
    FROM {{database}}.trace_events_v1
    WHERE type = 'trace-created'
    GROUP BY org_id, workspace_id, day
    UNION ALL
    SELECT org_id, workspace_id, toDate(occurred_at, 'UTC') AS day, toUInt64(0) AS base, uniqExact(trace_id) AS upgrades
    FROM {{database}}.retention_upgrades_v1
    GROUP BY org_id, workspace_id, day
)
GROUP BY org_id, workspace_id, day;
