-- The plans' own rules (§7.1–7.2): an organization's kind (G2; api-key rows keep theirs in the
-- same column) and its creation time (LG1), as the canonical RFC 3339 string of the event.
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS created_at String DEFAULT '';

-- Why a final invoice's line is at zero although it counts something (LG1's legacy months).
ALTER TABLE {{database}}.invoice_lines_v1 ADD COLUMN IF NOT EXISTS reason String DEFAULT '';
