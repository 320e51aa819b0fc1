-- Seats in advance and seat invoices (§10.5, SA1–SA3). Which invoice holds each seat charge (one
-- user's seat for one month): decided once, by the invoicer, before the invoice is issued. A row
-- repeated by a crash is read as its first (by assigned_at).
CREATE TABLE IF NOT EXISTS {{database}}.seat_charges_v1
(
    org_id       String,
    month        String,
    user_id      String,
    kind         LowCardinality(String),
    at           DateTime64(3, 'UTC'),
    invoice_id   String,
    -- A seat invoice's day ('' for a monthly invoice).
    day          String,
    assigned_at  DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (org_id, month, user_id);

-- Issued seat invoices are stored as monthly ones are (invoice_lines_v1, invoice_credits_v1,
-- invoice_totals_v1), under their day (YYYY-MM-DD) in place of a period.

-- SA3: a ledger that froze invoices under the earlier rule (seats of a month on its own
-- invoice) bills seats in advance from its first period not final when this ran; a new ledger
-- has no row (every period).
CREATE TABLE IF NOT EXISTS {{database}}.seat_billing_v1
(
    from_period String,
    at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY from_period;

INSERT INTO {{database}}.seat_billing_v1 (from_period)
SELECT concat(toString(toYear(d)), '-', leftPad(toString(toMonth(d)), 2, '0'))
FROM (SELECT addMonths(toDate(concat(max(period), '-01')), 1) AS d, count() AS n FROM {{database}}.frozen_periods_v1)
WHERE n > 0 AND (SELECT count() FROM {{database}}.seat_billing_v1) = 0;
