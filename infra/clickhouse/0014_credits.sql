-- Credits (§10.7): grants and voids are account events, kept in log order with the close
-- markers between them (closed_before), so a final invoice sees only what came before its close.
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS grant_id String DEFAULT '';
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS amount_usd String DEFAULT '';
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS first_period String DEFAULT '';
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS last_period String DEFAULT '';
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS reason String DEFAULT '';

-- What each final invoice's credit lines took off (CR4), one row per grant used, in the order
-- used. Apart from invoice_lines_v1, whose sum stays the invoice's total of charges.
CREATE TABLE IF NOT EXISTS {{database}}.invoice_credits_v1
(
    org_id        String,
    period        String,
    credit_no     UInt32,
    grant_id      String,
    amount_micros Int64,
    frozen_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, period, credit_no);
