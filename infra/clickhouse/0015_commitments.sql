-- Enterprise commitments (§10.8): the terms ride org-configured like the other contract terms.
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS commitment_usd String DEFAULT '';
ALTER TABLE {{database}}.account_events_v1 ADD COLUMN IF NOT EXISTS term_start String DEFAULT '';

-- One annual invoice per organization and term year (AC1). The invoicer writes a term year once;
-- a row repeated by a crash between the write and its record is read as its first (by issued_at).
-- closed_before is the carrying configuration's: the commitment's grant is known where it is (AC2).
CREATE TABLE IF NOT EXISTS {{database}}.annual_invoices_v1
(
    org_id            String,
    term_start        String,
    last_period       String,
    commitment_micros Int64,
    issued_at         DateTime64(3, 'UTC'),
    closed_before     String,
    stored_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (org_id, term_start);

-- The first issue time of each final monthly invoice, so an announcement repeated after a crash
-- carries the same document, byte for byte (IE2, the webhook).
ALTER TABLE {{database}}.invoice_totals_v1 ADD COLUMN IF NOT EXISTS issued_at Nullable(DateTime64(3, 'UTC'));

-- The webhook (IE3): what is to be delivered (the document as first announced, one row per
-- delivery round: the first, then one per `ledger webhooks resend`) and every attempt.
CREATE TABLE IF NOT EXISTS {{database}}.webhook_deliveries_v1
(
    invoice_id  String,
    org_id      String,
    round       UInt32,
    body        String,
    queued_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (invoice_id, round);

CREATE TABLE IF NOT EXISTS {{database}}.webhook_attempts_v1
(
    invoice_id   String,
    round        UInt32,
    attempt      UInt32,
    at           DateTime64(3, 'UTC'),
    status       UInt16,
    outcome      LowCardinality(String),
    error        String,
    duration_ms  UInt32,
    -- When the next attempt is due; NULL after a delivery, or when the retries are over.
    next_at      Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree
ORDER BY (invoice_id, round, attempt);
