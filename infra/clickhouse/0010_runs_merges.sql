-- Fewer rewrites of run data by merges. Runs are written in many small inserts (a sink batch
-- every quarter second, one part per month it touches) and read only by run id, so how many parts
-- a partition has matters little, while every merge rewrites its rows. With ClickHouse's default
-- selector (base 5, merge width lowered when a partition has few parts) each row of `runs_v1`
-- was rewritten five times on its way to a month's large part; with base 12 and no lowered
-- width, about twice (300,000 rows in 200 inserts on chDB: 1.53 million rows merged → 0.66
-- million, merge CPU 4.7 s → 2.7 s), at the price of a dozen active parts per month instead of
-- a few. A setting of the table: existing parts are merged by it from now on.
ALTER TABLE {{database}}.runs_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
