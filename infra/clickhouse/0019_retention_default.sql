-- Upgrade attribution (§4.1): which default (the project's or the workspace's) made a trace the
-- LangSmith API created extended.
ALTER TABLE {{database}}.trace_events_v1 ADD COLUMN IF NOT EXISTS retention_default LowCardinality(String) DEFAULT '';
