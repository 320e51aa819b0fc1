-- Upgrade attribution, savings and costs per project from rollups (§4.1, §4.3), so they read a
-- period's upgrades and sealed hours rather than every creation of the organization.
--
-- Each upgrade records its cause's source (`rule:r-12`, `queue:q-1`, `feedback:correctness`,
-- `feedback`, `creation`, `creation:project`, `creation:workspace`) and the trace's project, as
-- the upgrader knew them.
ALTER TABLE {{database}}.retention_upgrades_v1 ADD COLUMN IF NOT EXISTS cause_source String DEFAULT '';

ALTER TABLE {{database}}.retention_upgrades_v1 ADD COLUMN IF NOT EXISTS project_id String DEFAULT '';

-- The upgrader's state keeps the trace's project, its upgrade's source and whether an
-- alternative trigger was reported (a fact: the row with the most facts is the newest).
ALTER TABLE {{database}}.upgrader_trace_state_v1 ADD COLUMN IF NOT EXISTS project_id String DEFAULT '';

ALTER TABLE {{database}}.upgrader_trace_state_v1 ADD COLUMN IF NOT EXISTS cause_source String DEFAULT '';

ALTER TABLE {{database}}.upgrader_trace_state_v1 ADD COLUMN IF NOT EXISTS alternative UInt8 DEFAULT 0;

-- Every counted row knows its trace's project (and an upgrade its cause's source), and a seal
-- counts each hour's traces per (metric, project, cause) too. A trace's project and cause are
-- the greatest recorded: a backfilled row's over the empty one of an older row.
ALTER TABLE {{database}}.trace_hours_v1 ADD COLUMN IF NOT EXISTS project_id String DEFAULT '';

ALTER TABLE {{database}}.trace_hours_v1 ADD COLUMN IF NOT EXISTS cause_source String DEFAULT '';

ALTER TABLE {{database}}.trace_hour_seals_v1 ADD COLUMN IF NOT EXISTS breakdown Array(Tuple(metric String, project String, cause String, traces UInt64));

DROP VIEW IF EXISTS {{database}}.trace_hours_base_mv_v1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_hours_base_mv_v1
TO {{database}}.trace_hours_v1
AS SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC') AS hour, workspace_id, 'base' AS metric, trace_id, booked_period, project_id, now64(3) AS inserted_at
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

DROP VIEW IF EXISTS {{database}}.trace_hours_upgrade_mv_v1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_hours_upgrade_mv_v1
TO {{database}}.trace_hours_v1
AS SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC') AS hour, workspace_id, 'upgrade' AS metric, trace_id, booked_period, project_id, cause_source, now64(3) AS inserted_at
FROM {{database}}.retention_upgrades_v1;

-- Alternatives: for an upgraded trace, a trigger of another source than its cause while the
-- trace was within its base retention (it would have upgraded the trace had the cause been off),
-- under the upgrade's period with the upgrade's cause. The upgrader reports the first per trace.
CREATE TABLE IF NOT EXISTS {{database}}.upgrade_alternatives_v1
(
    org_id          String,
    upgraded_period LowCardinality(String),
    workspace_id    String,
    trace_id        String,
    event_id        String,
    type            LowCardinality(String),
    source          String,
    cause           String,
    occurred_at     DateTime64(3, 'UTC'),
    upgraded_at     DateTime64(3, 'UTC'),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, upgraded_period, workspace_id, trace_id, event_id);

-- usage_breakdown_v1(org, from, to): per (org, workspace, project, cause, metric) the distinct
-- traces of the hours from `from` to `to` (days, inclusive): each hour whose seal is newer than
-- its last row from the seal, any other hour from its rows, each trace once. A trace has one
-- creation (one upgrade) instant, so hours add up (as in daily_booked_counts_v1). org = '' reads
-- every organization.
CREATE VIEW IF NOT EXISTS {{database}}.usage_breakdown_v1 AS
SELECT org_id, workspace_id, project, cause, metric, sum(traces) AS traces
FROM
(
    SELECT org_id, workspace_id, c.metric AS metric, c.project AS project, c.cause AS cause, c.traces AS traces
    FROM
    (
        SELECT s.org_id AS org_id, s.workspace_id AS workspace_id, s.latest_breakdown AS cells
        FROM (SELECT org_id, workspace_id, hour, argMax(breakdown, sealed_at) AS latest_breakdown, max(sealed_at) AS latest_seal FROM {{database}}.trace_hour_seals_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS s
        INNER JOIN (SELECT org_id, workspace_id, hour, max(touched_at) AS touched_at FROM {{database}}.trace_hour_touches_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS t
        USING (org_id, workspace_id, hour)
        WHERE s.latest_seal >= t.touched_at
    )
    ARRAY JOIN cells AS c
    UNION ALL
    SELECT org_id, workspace_id, metric, project, cause, count() AS traces
    FROM
    (
        SELECT org_id, workspace_id, hour, metric, trace_id, max(project_id) AS project, max(cause_source) AS cause
        FROM {{database}}.trace_hours_v1
        WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY
          AND (org_id, workspace_id, hour) IN
          (
              SELECT t.org_id, t.workspace_id, t.hour
              FROM (SELECT org_id, workspace_id, hour, max(touched_at) AS touched_at FROM {{database}}.trace_hour_touches_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS t
              LEFT JOIN (SELECT org_id, workspace_id, hour, max(sealed_at) AS sealed_at FROM {{database}}.trace_hour_seals_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS d
              USING (org_id, workspace_id, hour)
              WHERE d.sealed_at < t.touched_at
          )
        GROUP BY org_id, workspace_id, hour, metric, trace_id
    )
    GROUP BY org_id, workspace_id, metric, project, cause
)
GROUP BY org_id, workspace_id, project, cause, metric;

-- Backfill, for a ledger with upgrades from before this migration. Its upgrades again, with
-- their cause's source and their trace's project (the same key: the newer row replaces the
-- older on merge, and readers use FINAL); the materialized view gives their hours the project.
INSERT INTO {{database}}.retention_upgrades_v1 (org_id, id, occurred_at, period, workspace_id, trace_id, cause_type, cause_event_id, received_at, ingested_at, booked_period, cause_source, project_id)
SELECT u.org_id, u.id, u.occurred_at, u.period, u.workspace_id, u.trace_id, u.cause_type, u.cause_event_id, u.received_at, u.ingested_at, u.booked_period,
       multiIf(u.cause_type = 'rule-matched', concat('rule:', c.rule_id),
               u.cause_type = 'queue-added', concat('queue:', c.queue_id),
               u.cause_type = 'feedback-added', if(c.feedback_key = '', 'feedback', concat('feedback:', c.feedback_key)),
               if(toString(c.retention_default) = '', 'creation', concat('creation:', toString(c.retention_default)))),
       ifNull(t.project, '')
FROM (SELECT * FROM {{database}}.retention_upgrades_v1 FINAL WHERE cause_source = '') AS u
LEFT JOIN (SELECT org_id, id, rule_id, queue_id, feedback_key, retention_default FROM {{database}}.trace_events_v1 WHERE type IN ('feedback-added', 'queue-added', 'rule-matched', 'trace-created')) AS c
  ON c.org_id = u.org_id AND c.id = u.cause_event_id
LEFT JOIN (SELECT org_id, workspace_id, trace_id, argMin(project_id, (kafka_partition, kafka_offset)) AS project FROM {{database}}.trace_events_v1 WHERE type = 'trace-created' GROUP BY org_id, workspace_id, trace_id) AS t
  ON t.org_id = u.org_id AND t.workspace_id = u.workspace_id AND t.trace_id = u.trace_id;

-- Creations' hours again, with their project: every hour with rows is touched, so the sealer
-- seals it anew with its projects.
INSERT INTO {{database}}.trace_hours_v1 (org_id, hour, workspace_id, metric, trace_id, booked_period, project_id)
SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC'), workspace_id, 'base', trace_id, booked_period, project_id
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

-- The upgrader's states with their project and upgrade's source (as many facts: the later row
-- wins), so a trace upgraded later, or triggered again, is recorded as a new one would be.
INSERT INTO {{database}}.upgrader_trace_state_v1 (org_id, trace_id, workspace_id, created_at, retention, upgraded_at, facts, kafka_partition, partition_count, stored_at, project_id, cause_source, alternative)
SELECT s.org_id, s.trace_id, s.workspace_id, s.created_at, s.retention, s.upgraded_at, s.facts, s.kafka_partition, s.partition_count, s.stored_at, ifNull(t.project, ''), ifNull(u.first_source, ''), 0
FROM (SELECT * FROM {{database}}.upgrader_trace_state_v1 FINAL) AS s
LEFT JOIN (SELECT org_id, trace_id, argMin(project_id, (kafka_partition, kafka_offset)) AS project FROM {{database}}.trace_events_v1 WHERE type = 'trace-created' GROUP BY org_id, trace_id) AS t
  ON t.org_id = s.org_id AND t.trace_id = s.trace_id
LEFT JOIN (SELECT org_id, trace_id, argMin(cause_source, occurred_at) AS first_source FROM {{database}}.retention_upgrades_v1 FINAL GROUP BY org_id, trace_id) AS u
  ON u.org_id = s.org_id AND u.trace_id = s.trace_id;

-- The alternatives already in the log: per upgraded trace (a trigger-caused upgrade), its first
-- trigger of another source within its base retention (any time, when its creation is unknown).
INSERT INTO {{database}}.upgrade_alternatives_v1 (org_id, upgraded_period, workspace_id, trace_id, event_id, type, source, cause, occurred_at, upgraded_at)
SELECT org_id, upgraded_period, workspace_id, trace_id, argMin(event_id, at), argMin(type, at), argMin(source, at), any(cause), min(at), any(upgraded_at)
FROM
(
    SELECT u.org_id AS org_id, u.first_period AS upgraded_period, u.workspace_id AS workspace_id, u.trace_id AS trace_id, g.id AS event_id, g.type AS type, g.source AS source, g.at AS at, u.first_upgraded AS upgraded_at, t.created AS created, t.known AS known, u.first_source AS cause
    FROM (SELECT org_id, workspace_id, trace_id, argMin(period, occurred_at) AS first_period, min(occurred_at) AS first_upgraded, argMin(cause_source, occurred_at) AS first_source FROM {{database}}.retention_upgrades_v1 FINAL GROUP BY org_id, workspace_id, trace_id) AS u
    INNER JOIN (SELECT org_id, workspace_id, trace_id, id, type, occurred_at AS at,
                       multiIf(type = 'rule-matched', concat('rule:', rule_id), type = 'queue-added', concat('queue:', queue_id), feedback_key = '', 'feedback', concat('feedback:', feedback_key)) AS source
                FROM {{database}}.trace_events_v1 WHERE type IN ('feedback-added', 'queue-added', 'rule-matched')) AS g
      ON g.org_id = u.org_id AND g.workspace_id = u.workspace_id AND g.trace_id = u.trace_id
    LEFT JOIN (SELECT org_id, workspace_id, trace_id, min(occurred_at) AS created, 1 AS known FROM {{database}}.trace_events_v1 WHERE type = 'trace-created' GROUP BY org_id, workspace_id, trace_id) AS t
      ON t.org_id = u.org_id AND t.workspace_id = u.workspace_id AND t.trace_id = u.trace_id
)
WHERE NOT startsWith(cause, 'creation') AND source != cause AND (known = 0 OR at < created + INTERVAL 14 DAY)
GROUP BY org_id, upgraded_period, workspace_id, trace_id;
