-- Rollups (issue 8): the usage page, /v1/usage and the invoices read counts that stay fast as
-- traces grow, and stay exact when rows are re-delivered or arrive late.
--
-- trace_hours_v1: one row per (org, UTC hour, workspace, metric, trace, booking), fed by
-- materialized views: base traces in the hour of their creation, extended upgrades in the hour
-- of the upgrade (the instants that put them in their billing period, rule P1). Re-delivered rows
-- are duplicates of a key, and no read assumes a merge removed them.
CREATE TABLE IF NOT EXISTS {{database}}.trace_hours_v1
(
    org_id        String,
    hour          DateTime64(0, 'UTC'),
    workspace_id  String,
    metric        LowCardinality(String),
    trace_id      String,
    booked_period LowCardinality(String),
    inserted_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, hour, workspace_id, metric, trace_id, booked_period);

-- When each (org, workspace, hour) last received a row, and the booking periods of its rows: a
-- sealed hour whose seal is older than its last row is counted from its rows again until it is
-- sealed anew, by one uniqExact per metric when all its rows have one booking.
CREATE TABLE IF NOT EXISTS {{database}}.trace_hour_touches_v1
(
    org_id       String,
    hour         DateTime64(0, 'UTC'),
    workspace_id String,
    touched_at   SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    bookings     SimpleAggregateFunction(groupUniqArrayArray, Array(String))
)
ENGINE = AggregatingMergeTree
ORDER BY (org_id, hour, workspace_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_hour_touches_mv_v1
TO {{database}}.trace_hour_touches_v1
AS SELECT org_id, hour, workspace_id, max(inserted_at) AS touched_at, groupUniqArray(toString(booked_period)) AS bookings
FROM {{database}}.trace_hours_v1
GROUP BY org_id, hour, workspace_id;

-- Exact counts of a sealed hour, (metric, booking period of each trace's first booking, distinct
-- traces) so the invoices read them too, written by the sealer (services/sealer) once the hour
-- has been quiet for a while; a reseal writes a newer row, and readers take the latest.
CREATE TABLE IF NOT EXISTS {{database}}.trace_hour_seals_v1
(
    org_id       String,
    hour         DateTime64(0, 'UTC'),
    workspace_id String,
    counts       Array(Tuple(metric String, first_booked String, traces UInt64)),
    sealed_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(sealed_at)
ORDER BY (org_id, hour, workspace_id);

-- The hour by arithmetic on epoch milliseconds: toStartOfHour answers a DateTime, which ends in
-- 2106, and valid instants run to 2199.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_hours_base_mv_v1
TO {{database}}.trace_hours_v1
AS SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC') AS hour, workspace_id, 'base' AS metric, trace_id, booked_period, now64(3) AS inserted_at
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_hours_upgrade_mv_v1
TO {{database}}.trace_hours_v1
AS SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC') AS hour, workspace_id, 'upgrade' AS metric, trace_id, booked_period, now64(3) AS inserted_at
FROM {{database}}.retention_upgrades_v1;

INSERT INTO {{database}}.trace_hours_v1 (org_id, hour, workspace_id, metric, trace_id, booked_period)
SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC'), workspace_id, 'base', trace_id, booked_period
FROM {{database}}.trace_events_v1
WHERE type = 'trace-created';

INSERT INTO {{database}}.trace_hours_v1 (org_id, hour, workspace_id, metric, trace_id, booked_period)
SELECT org_id, fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(occurred_at), 3600000) * 3600000, 'UTC'), workspace_id, 'upgrade', trace_id, booked_period
FROM {{database}}.retention_upgrades_v1;

-- trace_hours_v1 replaces the booking tables of migration 0007 (one materialized view per metric
-- on the data path, not two): their names stay, as views over it, for the line sources and for
-- analysts' queries.
DROP VIEW IF EXISTS {{database}}.invoice_base_traces_mv_v1;

DROP VIEW IF EXISTS {{database}}.invoice_extended_upgrades_mv_v1;

DROP VIEW IF EXISTS {{database}}.billing_usage_v1;

DROP VIEW IF EXISTS {{database}}.billing_base_traces_v1;

DROP VIEW IF EXISTS {{database}}.billing_extended_upgrades_v1;

DROP TABLE IF EXISTS {{database}}.invoice_base_traces_v1;

DROP TABLE IF EXISTS {{database}}.invoice_extended_upgrades_v1;

CREATE VIEW IF NOT EXISTS {{database}}.invoice_base_traces_v1 AS
SELECT org_id, left(toString(toDate32(hour)), 7) AS period, workspace_id, trace_id, booked_period
FROM {{database}}.trace_hours_v1 WHERE metric = 'base';

CREATE VIEW IF NOT EXISTS {{database}}.invoice_extended_upgrades_v1 AS
SELECT org_id, left(toString(toDate32(hour)), 7) AS period, workspace_id, trace_id, booked_period
FROM {{database}}.trace_hours_v1 WHERE metric = 'upgrade';

CREATE VIEW IF NOT EXISTS {{database}}.billing_base_traces_v1 AS
SELECT org_id, workspace_id, period, trace_id FROM {{database}}.invoice_base_traces_v1;

CREATE VIEW IF NOT EXISTS {{database}}.billing_extended_upgrades_v1 AS
SELECT org_id, workspace_id, period, trace_id FROM {{database}}.invoice_extended_upgrades_v1;

-- daily_booked_counts_v1(org, from, to): per (org, workspace, UTC day, metric, first booking)
-- the number of distinct traces, exact: each hour whose seal is newer than its last row from
-- trace_hour_seals_v1, any other hour (the open one, one that received a re-delivery or a late
-- event) counted from its rows, each trace once. A trace has one creation (one upgrade) instant,
-- so its hours add up to its day. A parameterized view, so the filters reach every branch: org =
-- '' reads every organization; from and to bound the days (inclusive). Hours and days are
-- DateTime64 and Date32: valid instants run to 2199 (§2), beyond DateTime and Date.
CREATE VIEW IF NOT EXISTS {{database}}.daily_booked_counts_v1 AS
SELECT org_id, workspace_id, toDate32(hour) AS day, metric, first_booked, sum(traces) AS traces
FROM
(
    -- Sealed hours whose latest seal is newer than their last row.
    SELECT org_id, workspace_id, hour, c.metric AS metric, c.first_booked AS first_booked, c.traces AS traces
    FROM
    (
        SELECT s.org_id AS org_id, s.workspace_id AS workspace_id, s.hour AS hour, s.latest_counts AS counts
        FROM (SELECT org_id, workspace_id, hour, argMax(counts, sealed_at) AS latest_counts, max(sealed_at) AS latest_seal FROM {{database}}.trace_hour_seals_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS s
        INNER JOIN (SELECT org_id, workspace_id, hour, max(touched_at) AS touched_at FROM {{database}}.trace_hour_touches_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS t
        USING (org_id, workspace_id, hour)
        WHERE s.latest_seal >= t.touched_at
    )
    ARRAY JOIN counts AS c
    UNION ALL
    -- Other hours whose rows have one booking (the usual case): one uniqExact per metric.
    SELECT org_id, workspace_id, hour, metric, any(booked_period) AS first_booked, uniqExact(trace_id) AS traces
    FROM {{database}}.trace_hours_v1
    WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY
      AND (org_id, workspace_id, hour) IN
      (
          SELECT t.org_id, t.workspace_id, t.hour
          FROM (SELECT org_id, workspace_id, hour, max(touched_at) AS touched_at, groupUniqArrayArray(bookings) AS all_bookings FROM {{database}}.trace_hour_touches_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS t
          LEFT JOIN (SELECT org_id, workspace_id, hour, max(sealed_at) AS sealed_at FROM {{database}}.trace_hour_seals_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS d
          USING (org_id, workspace_id, hour)
          WHERE d.sealed_at < t.touched_at AND length(t.all_bookings) = 1
      )
    GROUP BY org_id, workspace_id, hour, metric
    UNION ALL
    -- Other hours with rows booked in several periods (a re-delivery after a close): each trace
    -- by its first booking.
    SELECT org_id, workspace_id, hour, metric, first AS first_booked, count() AS traces
    FROM
    (
        SELECT org_id, workspace_id, hour, metric, trace_id, min(booked_period) AS first
        FROM {{database}}.trace_hours_v1
        WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY
          AND (org_id, workspace_id, hour) IN
          (
              SELECT t.org_id, t.workspace_id, t.hour
              FROM (SELECT org_id, workspace_id, hour, max(touched_at) AS touched_at, groupUniqArrayArray(bookings) AS all_bookings FROM {{database}}.trace_hour_touches_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS t
              LEFT JOIN (SELECT org_id, workspace_id, hour, max(sealed_at) AS sealed_at FROM {{database}}.trace_hour_seals_v1 WHERE ({org:String} = '' OR org_id = {org:String}) AND hour >= toDateTime64({from:Date32}, 0, 'UTC') AND hour < toDateTime64({to:Date32}, 0, 'UTC') + INTERVAL 1 DAY GROUP BY org_id, workspace_id, hour) AS d
              USING (org_id, workspace_id, hour)
              WHERE d.sealed_at < t.touched_at AND length(t.all_bookings) > 1
          )
        GROUP BY org_id, workspace_id, hour, metric, trace_id
    )
    GROUP BY org_id, workspace_id, hour, metric, first_booked
)
GROUP BY org_id, workspace_id, day, metric, first_booked;

-- The analysts' daily and period views keep their names and meaning; they now read the rollups.
DROP VIEW IF EXISTS {{database}}.daily_usage_v1;

CREATE VIEW IF NOT EXISTS {{database}}.daily_usage_v1 AS
SELECT
    org_id,
    workspace_id,
    day,
    toStartOfMonth(day) AS period_start,
    sumIf(traces, metric = 'base') AS base_traces,
    sumIf(traces, metric = 'upgrade') AS extended_upgrades
FROM {{database}}.daily_booked_counts_v1(org = '', from = '1970-01-01', to = '2199-12-31')
GROUP BY org_id, workspace_id, day;

CREATE VIEW IF NOT EXISTS {{database}}.billing_usage_v1 AS
SELECT
    org_id,
    workspace_id,
    left(toString(day), 7) AS period,
    sumIf(traces, metric = 'base') AS base_traces,
    sumIf(traces, metric = 'upgrade') AS extended_upgrades,
    base_traces * 500 AS base_charge_micros,
    extended_upgrades * 4500 AS upgrade_charge_micros
FROM {{database}}.daily_booked_counts_v1(org = '', from = '1970-01-01', to = '2199-12-31')
GROUP BY org_id, workspace_id, period;

-- invoice_lines_status_v1: every stored invoice line with its period's status and amounts in
-- dollars (six decimals, exact). Lines are stored when a period is final; an open period's
-- preview is computed on request (GET /v1/invoices/{org}/{period}) and is not here.
CREATE VIEW IF NOT EXISTS {{database}}.invoice_lines_status_v1 AS
SELECT
    l.org_id AS org_id,
    l.period AS period,
    l.line_no AS line_no,
    l.kind AS kind,
    l.usage_period AS usage_period,
    l.adjusts AS adjusts,
    l.user_id AS user_id,
    l.at AS at,
    l.quantity AS quantity,
    l.free_quantity AS free_quantity,
    toDecimal128(l.unit_price_micros, 6) / 1000000 AS unit_price_usd,
    toDecimal128(l.amount_micros, 6) / 1000000 AS amount_usd,
    if(l.kind = 'adjustment', 'adjustment', 'charge') AS line_type,
    'final' AS status,
    f.frozen_at AS final_at
FROM {{database}}.invoice_lines_v1 AS l FINAL
INNER JOIN (SELECT period, max(frozen_at) AS frozen_at FROM {{database}}.frozen_periods_v1 GROUP BY period) AS f USING (period);
