import { z } from "zod";
import type { AlertMetric, AlertRule } from "@ledger/billing";
import { dateTime64, type LedgerClickHouse } from "./client";

const queryId = (name: string) => `alerts.${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;

const ruleRow = z.object({ org_id: z.string(), alert_id: z.string(), metric: z.enum(["all_traces", "extended_traces", "spend"]), workspace_id: z.string(), spend_micros: z.coerce.bigint(), thresholds: z.array(z.coerce.number()), set_ms: z.coerce.number() });

/** The alert rules (§6.6), the latest set of each, of one organization or all. */
export async function alertRules(ch: LedgerClickHouse, org?: string): Promise<(AlertRule & { setAtMs: number })[]> {
  const rs = await ch.client.query({
    query: `SELECT org_id, alert_id, metric, workspace_id, spend_micros, thresholds, toUnixTimestamp64Milli(set_at) AS set_ms
            FROM ${ch.table("alert_rules_v1")} FINAL ${org === undefined ? "" : "WHERE org_id = {org:String}"} ORDER BY org_id, alert_id`,
    query_params: { org: org ?? "" },
    format: "JSONEachRow",
    query_id: queryId("rules"),
  });
  return z
    .array(ruleRow)
    .parse(await rs.json())
    .map((r) => ({
      orgId: r.org_id,
      alertId: r.alert_id,
      metric: r.metric as AlertMetric,
      ...(r.workspace_id !== "" ? { workspaceId: r.workspace_id } : {}),
      ...(r.metric === "spend" ? { spendMicros: r.spend_micros } : {}),
      thresholds: r.thresholds,
      setAtMs: r.set_ms,
    }));
}

export async function storeAlertRule(ch: LedgerClickHouse, rule: AlertRule, nowMs: number): Promise<void> {
  await ch.client.insert({
    table: ch.table("alert_rules_v1"),
    values: [{ org_id: rule.orgId, alert_id: rule.alertId, metric: rule.metric, workspace_id: rule.workspaceId ?? "", spend_micros: (rule.spendMicros ?? 0n).toString(), thresholds: rule.thresholds, set_at: dateTime64(nowMs) }],
    format: "JSONEachRow",
  });
}

/** A crossing announced: its event's id, and the event as first announced. */
export interface SentAlert {
  eventId: string;
  orgId: string;
  alertId: string;
  period: string;
  threshold: number;
  body: string;
  sentAtMs: number;
}

const sentRow = z.object({ event_id: z.string(), org_id: z.string(), alert_id: z.string(), period: z.string(), threshold: z.coerce.number(), first_body: z.string(), sent_ms: z.coerce.number() });

export async function sentAlerts(ch: LedgerClickHouse, org?: string): Promise<SentAlert[]> {
  const rs = await ch.client.query({
    // An event id names its organization, rule, period and threshold: they group with it.
    query: `SELECT event_id, org_id, alert_id, period, threshold, argMin(body, sent_at) AS first_body, toUnixTimestamp64Milli(min(sent_at)) AS sent_ms
            FROM ${ch.table("alerts_sent_v1")} ${org === undefined ? "" : "WHERE org_id = {org:String}"}
            GROUP BY event_id, org_id, alert_id, period, threshold ORDER BY sent_ms, alert_id, period, threshold`,
    query_params: { org: org ?? "" },
    format: "JSONEachRow",
    query_id: queryId("sent"),
  });
  return z
    .array(sentRow)
    .parse(await rs.json())
    .map((r) => ({ eventId: r.event_id, orgId: r.org_id, alertId: r.alert_id, period: r.period, threshold: r.threshold, body: r.first_body, sentAtMs: r.sent_ms }));
}

export async function recordAlertsSent(ch: LedgerClickHouse, sent: readonly SentAlert[]): Promise<void> {
  if (sent.length === 0) return;
  await ch.client.insert({
    table: ch.table("alerts_sent_v1"),
    values: sent.map((s) => ({ event_id: s.eventId, org_id: s.orgId, alert_id: s.alertId, period: s.period, threshold: s.threshold, body: s.body, sent_at: dateTime64(s.sentAtMs) })),
    format: "JSONEachRow",
  });
}

const limitRow = z.object({ org_id: z.string(), workspace_id: z.string(), all_limit: z.coerce.number().nullable(), extended_limit: z.coerce.number().nullable() });

/** Each workspace's limits as its latest `workspace-configured` (log order) sets them (§6.3). */
export async function workspaceLimits(ch: LedgerClickHouse): Promise<Map<string, { all_traces: number | null; extended_traces: number | null }>> {
  const rs = await ch.client.query({
    query: `SELECT org_id, workspace_id, argMax(all_traces_limit, (kafka_partition, kafka_offset)) AS all_limit, argMax(extended_traces_limit, (kafka_partition, kafka_offset)) AS extended_limit
            FROM ${ch.table("account_events_v1")} FINAL WHERE type = 'workspace-configured' GROUP BY org_id, workspace_id`,
    format: "JSONEachRow",
    query_id: queryId("workspace_limits"),
  });
  return new Map(z.array(limitRow).parse(await rs.json()).map((r) => [`${r.org_id}/${r.workspace_id}`, { all_traces: r.all_limit, extended_traces: r.extended_limit }]));
}
