-- §10.1: an organization's configuration rates a period only if it was known when the period
-- closed. closed_before: the latest period whose close marker came before the account event in
-- its partition of the accounts topic ('' for none, and for rows written before this migration,
-- which were all known before every close that followed them).
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS closed_before LowCardinality(String) DEFAULT '';
