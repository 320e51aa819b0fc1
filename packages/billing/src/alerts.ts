import { formatInstant } from "./instant";
import { formatUsd } from "./pricing";

/**
 * Threshold alerts (spec §6.6): a workspace's usage against one of its limits, or the month's
 * cost against an amount, crossing a percentage. Each threshold alerts once per period: the
 * event's id says which, so a repeated look, a restart or a second instance alerts nothing new.
 */
export type AlertMetric = "all_traces" | "extended_traces" | "spend";

export interface AlertRule {
  orgId: string;
  /** `workspace:<ws>:<limit>` or `spend`: one rule of each per organization. */
  alertId: string;
  metric: AlertMetric;
  /** For a limit's alert. */
  workspaceId?: string;
  /** For a spend alert: the amount the month's cost is measured against. */
  spendMicros?: bigint;
  /** Percentages, ascending, each 1–1000. */
  thresholds: number[];
}

export const alertIdOf = (metric: AlertMetric, workspaceId?: string) => (metric === "spend" ? "spend" : `workspace:${workspaceId}:${metric}`);

/** One crossing's id: the same however often and by whomever it is found ('/' is outside the id alphabet). */
export const alertEventIdOf = (orgId: string, alertId: string, period: string, threshold: number) => `alert/${orgId}/${alertId}/${period}/${threshold}`;

/** The thresholds `value` has reached against `target` (value ≥ target × t / 100, exactly), not alerted before. */
export function newlyCrossed(thresholds: readonly number[], value: bigint, target: bigint, alerted: ReadonlySet<number>): number[] {
  if (target <= 0n) return [];
  return thresholds.filter((t) => !alerted.has(t) && value * 100n >= target * BigInt(t));
}

/** What the alerts topic and the webhook receive (§6.6). */
export interface UsageThresholdCrossed {
  type: "usage-threshold-crossed";
  id: string;
  org_id: string;
  workspace_id?: string;
  metric: AlertMetric;
  period: string;
  threshold_percent: number;
  /** Traces, or dollars for spend, as decimal strings. */
  value: string;
  target: string;
  unit: "traces" | "usd";
  crossed_at: string;
}

export function usageThresholdCrossed(rule: AlertRule, period: string, threshold: number, value: bigint, target: bigint, atMs: number): UsageThresholdCrossed {
  const money = rule.metric === "spend";
  return {
    type: "usage-threshold-crossed",
    id: alertEventIdOf(rule.orgId, rule.alertId, period, threshold),
    org_id: rule.orgId,
    ...(rule.workspaceId !== undefined ? { workspace_id: rule.workspaceId } : {}),
    metric: rule.metric,
    period,
    threshold_percent: threshold,
    value: money ? formatUsd(value) : value.toString(),
    target: money ? formatUsd(target) : target.toString(),
    unit: money ? "usd" : "traces",
    crossed_at: formatInstant(atMs),
  };
}

/** A rule as the admin API and `ledger alerts` show it. */
export interface AlertRuleJson {
  alert_id: string;
  metric: AlertMetric;
  workspace_id?: string;
  spend_usd?: string;
  thresholds: number[];
}

export const alertRuleJson = (r: AlertRule): AlertRuleJson => ({
  alert_id: r.alertId,
  metric: r.metric,
  ...(r.workspaceId !== undefined ? { workspace_id: r.workspaceId } : {}),
  ...(r.spendMicros !== undefined ? { spend_usd: formatUsd(r.spendMicros) } : {}),
  thresholds: r.thresholds,
});

/** The admin API's body for a rule (`PUT /v1/admin/orgs/{org}/alerts`). */
export interface AlertRequestBody {
  workspace_id?: string;
  limit?: "all_traces" | "extended_traces";
  spend_usd?: string;
  at: number[];
}

/** A rule from a checked request: its id from what it watches, its thresholds ascending and once each. */
export function alertRuleOf(orgId: string, body: AlertRequestBody, spendMicros: (usd: string) => bigint): AlertRule {
  const metric: AlertMetric = body.spend_usd !== undefined ? "spend" : body.limit!;
  return {
    orgId,
    alertId: alertIdOf(metric, body.workspace_id),
    metric,
    ...(metric !== "spend" ? { workspaceId: body.workspace_id! } : {}),
    ...(metric === "spend" ? { spendMicros: spendMicros(body.spend_usd!) } : {}),
    thresholds: [...new Set(body.at)].sort((a, b) => a - b),
  };
}

export function alertRequestOf(rule: AlertRule): AlertRequestBody {
  return {
    ...(rule.metric !== "spend" ? { workspace_id: rule.workspaceId!, limit: rule.metric } : { spend_usd: formatUsd(rule.spendMicros!) }),
    at: rule.thresholds,
  };
}
