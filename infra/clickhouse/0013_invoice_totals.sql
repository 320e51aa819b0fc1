-- Payable amounts: each final invoice's exact total and what is to be paid (the total less
-- credits, rounded half up to the cent by the invoicer: the one rounding of an amount due), so
-- exports and payment systems read the figure the invoice shows.
CREATE TABLE IF NOT EXISTS {{database}}.invoice_totals_v1
(
    org_id            String,
    period            String,
    total_micros      Int64,
    credits_micros    Int64 DEFAULT 0,
    amount_due_micros Int64,
    frozen_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, period);

-- Invoices frozen before this migration: their totals, with the same rounding, once.
INSERT INTO {{database}}.invoice_totals_v1 (org_id, period, total_micros, amount_due_micros)
SELECT org_id, period, sum(amount_micros) AS total, if(total >= 0, intDiv(total + 5000, 10000), -intDiv(-total + 5000, 10000)) * 10000
FROM {{database}}.invoice_lines_v1 FINAL
GROUP BY org_id, period;
