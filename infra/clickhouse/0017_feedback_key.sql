-- Upgrade attribution (§4.1): the feedback's key, when the API tier (or the LangSmith API) gives it.
ALTER TABLE {{database}}.trace_events_v1 ADD COLUMN IF NOT EXISTS feedback_key String DEFAULT '';
