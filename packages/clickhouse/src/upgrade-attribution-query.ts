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
  /** The group: a cause (`rule:r-12`, `queue:q-1`, `feedback:correctness`, `feedback, key not given`, `extended creation`, `extended creation (the project's default)`), a rule, queue or feedback key, a project or a workspace. */
  group: string;
  upgrades: number;
  cost_usd: string;
  /**
   * For a rule, a queue or a feedback key: the group's upgrades that no other trigger of the
   * trace (not expired, U4) would have made, and their cost: what turning it off would have
   * saved. Null for what cannot be turned off (an extended creation, feedback without a key) and
   * for projects and workspaces.
   */
  sole_upgrades: number | null;
  saving_usd: string | null;
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
  trace_id: z.string(),
  created_ms: z.coerce.number(),
  created: z.coerce.number(),
  cause_type: z.string(),
  rule_id: z.string(),
  queue_id: z.string(),
  feedback_key: z.string(),
  retention_default: z.string(),
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
    query: `SELECT u.workspace_id AS workspace_id, u.trace_id AS trace_id, u.cause_type AS cause_type, c.rule_id AS rule_id, c.queue_id AS queue_id, c.feedback_key AS feedback_key,
                   c.retention_default AS retention_default, t.project AS project_id,
                   t.created_ms AS created_ms, t.known AS created
            FROM (SELECT workspace_id, trace_id, argMin(cause_type, occurred_at) AS cause_type, argMin(cause_event_id, occurred_at) AS cause_event_id
                  FROM ${ch.table("retention_upgrades_v1")} FINAL
                  WHERE org_id = {org:String} AND period = {period:String}
                  GROUP BY workspace_id, trace_id) AS u
            LEFT JOIN (SELECT id AS event_id, rule_id, queue_id, feedback_key, toString(retention_default) AS retention_default FROM ${ch.table("trace_events_v1")}
                       WHERE org_id = {org:String} AND type IN ('feedback-added', 'queue-added', 'rule-matched', 'trace-created')) AS c
              ON c.event_id = u.cause_event_id
            LEFT JOIN (SELECT workspace_id AS ws, trace_id AS trace, argMin(project_id, (kafka_partition, kafka_offset)) AS project,
                              toUnixTimestamp64Milli(min(occurred_at)) AS created_ms, 1 AS known FROM ${ch.table("trace_events_v1")}
                       WHERE org_id = {org:String} AND type = 'trace-created' GROUP BY ws, trace) AS t
              ON t.ws = u.workspace_id AND t.trace = u.trace_id`,
    query_params: { org: p.org, period: p.period },
    format: "JSONEachRow",
    query_id: `ledger.upgrade_attribution.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const upgrades = z.array(upgradeRow).parse(await rs.json());
  const [unit, triggers] = await Promise.all([unitPriceMicros(p.org, p.period), triggerSources(ch, p.org, p.period)]);
  // What would have upgraded each trace had its cause been off: another source's trigger, not expired (U4).
  const BASE_RETENTION_MS = 14 * 86_400_000;
  const sole = (u: z.output<typeof upgradeRow>, cause: string) =>
    !(triggers.get(`${u.workspace_id}/${u.trace_id}`) ?? []).some((t) => t.source !== cause && (u.created === 0 || t.atMs < u.created_ms + BASE_RETENTION_MS));
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
  const counts = new Map<string, { n: number; sole: number | null }>();
  for (const u of upgrades) {
    const g = groupOf(u);
    if (g === null) continue;
    const cause = causeOf(u);
    // Only a rule, a queue or a feedback key can be turned off, and only cause groupings name one.
    const switchable = p.by !== "project" && p.by !== "workspace" && (cause.type === "rule" || cause.type === "queue" || (cause.type === "feedback" && cause.id !== undefined));
    const c = counts.get(g) ?? { n: 0, sole: switchable ? 0 : null };
    c.n += 1;
    if (c.sole !== null && sole(u, cause.label)) c.sole += 1;
    counts.set(g, c);
  }
  const rows = [...counts]
    .map(([group, c]) => ({ group, upgrades: c.n, cost_usd: formatUsd(BigInt(c.n) * unit), sole_upgrades: c.sole, saving_usd: c.sole === null ? null : formatUsd(BigInt(c.sole) * unit) }))
    .sort((a, b) => b.upgrades - a.upgrades || (a.group < b.group ? -1 : 1));
  return { org_id: p.org, period: p.period, by: p.by, unit_price_usd: formatUsd(unit), upgrades: upgrades.length, cost_usd: formatUsd(BigInt(upgrades.length) * unit), rows };
}

const triggerRow = z.object({ workspace_id: z.string(), trace_id: z.string(), type: z.string(), rule_id: z.string(), queue_id: z.string(), feedback_key: z.string(), at_ms: z.coerce.number() });

/** Every trigger of the traces upgraded in the period, by trace, each with its source (as `causeOf` labels it) and time. */
async function triggerSources(ch: LedgerClickHouse, org: string, period: string): Promise<Map<string, { source: string; atMs: number }[]>> {
  const rs = await ch.client.query({
    query: `SELECT DISTINCT id, workspace_id, trace_id, type, rule_id, queue_id, feedback_key, toUnixTimestamp64Milli(occurred_at) AS at_ms
            FROM ${ch.table("trace_events_v1")}
            WHERE org_id = {org:String} AND type IN ('feedback-added', 'queue-added', 'rule-matched')
              AND (workspace_id, trace_id) IN (SELECT workspace_id, trace_id FROM ${ch.table("retention_upgrades_v1")} WHERE org_id = {org:String} AND period = {period:String})`,
    query_params: { org, period },
    format: "JSONEachRow",
    query_id: `ledger.upgrade_triggers.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const out = new Map<string, { source: string; atMs: number }[]>();
  for (const t of z.array(triggerRow).parse(await rs.json())) {
    const key = `${t.workspace_id}/${t.trace_id}`;
    const list = out.get(key) ?? [];
    list.push({ source: causeOf({ cause_type: t.type, rule_id: t.rule_id, queue_id: t.queue_id, feedback_key: t.feedback_key }).label, atMs: t.at_ms });
    out.set(key, list);
  }
  return out;
}

/** What upgraded a trace: a rule, a queue or feedback (with its key if the API tier gave it), or its creation as extended. */
type UpgradeCause = { type: "rule" | "queue"; id: string; label: string } | { type: "feedback"; id?: string; label: string } | { type: "creation"; label: string };

function causeOf(u: { cause_type: string; rule_id: string; queue_id: string; feedback_key: string; retention_default?: string }): UpgradeCause {
  switch (u.cause_type) {
    case "rule-matched":
      return { type: "rule", id: u.rule_id, label: `rule:${u.rule_id}` };
    case "queue-added":
      return { type: "queue", id: u.queue_id, label: `queue:${u.queue_id}` };
    case "feedback-added":
      return u.feedback_key ? { type: "feedback", id: u.feedback_key, label: `feedback:${u.feedback_key}` } : { type: "feedback", label: "feedback, key not given" };
    default:
      // Where the LangSmith API resolved the retention itself, which default made it extended.
      return { type: "creation", label: u.retention_default ? `extended creation (the ${u.retention_default}'s default)` : "extended creation" };
  }
}
