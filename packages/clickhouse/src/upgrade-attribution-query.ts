import { z } from "zod";
import { formatUsd, isPeriodKey } from "@ledger/billing";
import { identifier } from "@ledger/events";
import type { LedgerClickHouse } from "./client";

export const UPGRADE_GROUPINGS = ["cause", "rule", "queue", "feedback_key", "project", "workspace"] as const;

export const upgradeAttributionParams = z.strictObject({
  org: identifier,
  period: z.string().refine(isPeriodKey, { error: "must be a period YYYY-MM" }).meta({ description: "the period YYYY-MM" }),
  by: z.enum(UPGRADE_GROUPINGS, { error: `must be one of ${UPGRADE_GROUPINGS.join(", ")}` }).default("cause"),
});
export type UpgradeAttributionParams = z.input<typeof upgradeAttributionParams>;

/** One group of a period's extended upgrades and what they cost. */
export interface UpgradeAttributionRow {
  /** The group: a cause (`rule:r-12`, `queue:q-1`, `feedback:correctness`, `feedback, key not given`, `extended creation`), a rule, queue or feedback key, a project or a workspace. */
  group: string;
  upgrades: number;
  cost_usd: string;
}

export interface UpgradeAttribution {
  org_id: string;
  period: string;
  by: (typeof UPGRADE_GROUPINGS)[number];
  /** The period's price of one upgrade (no allotment applies to upgrades). */
  unit_price_usd: string;
  upgrades: number;
  cost_usd: string;
  /** Largest first. */
  rows: UpgradeAttributionRow[];
}

const upgradeRow = z.object({
  workspace_id: z.string(),
  cause_type: z.string(),
  rule_id: z.string(),
  queue_id: z.string(),
  feedback_key: z.string(),
  project_id: z.string(),
});

/**
 * Named query `ledger.upgrade_attribution`: each extended upgrade of the period (one per trace)
 * with the event that caused it (the trigger, or the extended creation) and the trace's project,
 * grouped and priced (§4.1).
 */
export async function queryUpgradeAttribution(ch: LedgerClickHouse, input: UpgradeAttributionParams | Record<string, unknown>, unitPriceMicros: (org: string, period: string) => Promise<bigint>): Promise<UpgradeAttribution> {
  const p = upgradeAttributionParams.parse(input);
  const rs = await ch.client.query({
    query: `SELECT u.workspace_id AS workspace_id, u.cause_type AS cause_type, c.rule_id AS rule_id, c.queue_id AS queue_id, c.feedback_key AS feedback_key, t.project AS project_id
            FROM (SELECT workspace_id, trace_id, argMin(cause_type, occurred_at) AS cause_type, argMin(cause_event_id, occurred_at) AS cause_event_id
                  FROM ${ch.table("retention_upgrades_v1")} FINAL
                  WHERE org_id = {org:String} AND period = {period:String}
                  GROUP BY workspace_id, trace_id) AS u
            LEFT JOIN (SELECT id AS event_id, rule_id, queue_id, feedback_key FROM ${ch.table("trace_events_v1")}
                       WHERE org_id = {org:String} AND type IN ('feedback-added', 'queue-added', 'rule-matched', 'trace-created')) AS c
              ON c.event_id = u.cause_event_id
            LEFT JOIN (SELECT workspace_id AS ws, trace_id AS trace, argMin(project_id, (kafka_partition, kafka_offset)) AS project FROM ${ch.table("trace_events_v1")}
                       WHERE org_id = {org:String} AND type = 'trace-created' GROUP BY ws, trace) AS t
              ON t.ws = u.workspace_id AND t.trace = u.trace_id`,
    query_params: { org: p.org, period: p.period },
    format: "JSONEachRow",
    query_id: `ledger.upgrade_attribution.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const upgrades = z.array(upgradeRow).parse(await rs.json());
  const unit = await unitPriceMicros(p.org, p.period);
  const groupOf = (u: z.output<typeof upgradeRow>): string | null => {
    const cause = causeOf(u);
    switch (p.by) {
      case "cause":
        return cause.label;
      case "rule":
        return cause.type === "rule" ? cause.id : null;
      case "queue":
        return cause.type === "queue" ? cause.id : null;
      case "feedback_key":
        return cause.type === "feedback" ? (cause.id ?? "(key not given)") : null;
      case "project":
        return u.project_id || "(unknown project)";
      case "workspace":
        return u.workspace_id;
    }
  };
  const counts = new Map<string, number>();
  for (const u of upgrades) {
    const g = groupOf(u);
    if (g !== null) counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  const rows = [...counts]
    .map(([group, n]) => ({ group, upgrades: n, cost_usd: formatUsd(BigInt(n) * unit) }))
    .sort((a, b) => b.upgrades - a.upgrades || (a.group < b.group ? -1 : 1));
  return { org_id: p.org, period: p.period, by: p.by, unit_price_usd: formatUsd(unit), upgrades: upgrades.length, cost_usd: formatUsd(BigInt(upgrades.length) * unit), rows };
}

/** What upgraded a trace: a rule, a queue or feedback (with its key if the API tier gave it), or its creation as extended. */
type UpgradeCause = { type: "rule" | "queue"; id: string; label: string } | { type: "feedback"; id?: string; label: string } | { type: "creation"; label: string };

function causeOf(u: z.output<typeof upgradeRow>): UpgradeCause {
  switch (u.cause_type) {
    case "rule-matched":
      return { type: "rule", id: u.rule_id, label: `rule:${u.rule_id}` };
    case "queue-added":
      return { type: "queue", id: u.queue_id, label: `queue:${u.queue_id}` };
    case "feedback-added":
      return u.feedback_key ? { type: "feedback", id: u.feedback_key, label: `feedback:${u.feedback_key}` } : { type: "feedback", label: "feedback, key not given" };
    default:
      return { type: "creation", label: "extended creation" };
  }
}
