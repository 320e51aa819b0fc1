-- The same for the tables every sink batch writes (the raw events, the upgrader's state and each
-- materialized view's table): small parts at a quarter-second pace, rewritten by merges five
-- times each with the default selector. Their readers aggregate or read FINAL, so a few more
-- parts per month cost them little.
ALTER TABLE {{database}}.trace_events_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
ALTER TABLE {{database}}.retention_upgrades_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
ALTER TABLE {{database}}.upgrader_trace_state_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
ALTER TABLE {{database}}.billing_events_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
ALTER TABLE {{database}}.trace_hours_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
ALTER TABLE {{database}}.trace_hour_touches_v1 MODIFY SETTING merge_selector_base = 12, merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once = 0;
