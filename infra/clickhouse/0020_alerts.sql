-- Threshold alerts (§6.6): the rules (one per organization and alert id; the latest set counts)
-- and every crossing announced (one per organization, alert, period and threshold; a row
-- repeated by a crash between the announcement and its record reads as the first).
CREATE TABLE IF NOT EXISTS {{database}}.alert_rules_v1
(
    org_id        String,
    alert_id      String,
    metric        LowCardinality(String),
    workspace_id  String,
    spend_micros  Int64,
    thresholds    Array(UInt16),
    set_at        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(set_at)
ORDER BY (org_id, alert_id);

CREATE TABLE IF NOT EXISTS {{database}}.alerts_sent_v1
(
    event_id   String,
    org_id     String,
    alert_id   String,
    period     String,
    threshold  UInt16,
    body       String,
    sent_at    DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (org_id, event_id);
