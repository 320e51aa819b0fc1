import { z } from "zod";
import { firstDayOf, formatUsd, lastDayOf } from "@ledger/billing";
import { identifier } from "@ledger/events";
import type { LedgerClickHouse } from "./client";
import { periodParam } from "./usage-query";

export const UPGRADE_GROUPINGS = ["cause", "rule", "queue", "feedback_key", "project", "workspace"] as const;

export const upgradeAttributionParams = z.strictObject({
  org: identifier,
  period: periodParam.meta({ description: "the period YYYY-MM" }),
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

const groupRow = z.object({ source: z.string(), project_id: z.string(), workspace_id: z.string(), upgrades: z.coerce.number() });
const alternativeRow = z.object({ upgrade_source: z.string(), traces: z.coerce.number() });

/**
 * Named queries `ledger.upgrade_attribution` and `ledger.upgrade_alternatives`: the period's
 * extended upgrades (each trace once) by their cause's source, project and workspace, from the
 * rollups the bill counts (`usage_breakdown_v1`); and per source, the upgraded traces another
 * source's trigger reached within their base retention (`upgrade_alternatives_v1`). An upgrade
 * without one is what turning its cause off would have saved. Grouped and priced (§4.1).
 */
export async function queryUpgradeAttribution(ch: LedgerClickHouse, input: UpgradeAttributionParams | Record<string, unknown>, unitPriceMicros: (org: string, period: string) => Promise<bigint>): Promise<UpgradeAttribution> {
  const p = upgradeAttributionParams.parse(input);
  const tag = `${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;
  const [groupsRs, alternativesRs, unit] = await Promise.all([
    ch.client.query({
      query: `SELECT cause AS source, project AS project_id, workspace_id, sum(traces) AS upgrades
              FROM ${ch.table("usage_breakdown_v1")}(org = {org:String}, from = {from:Date32}, to = {to:Date32})
              WHERE metric = 'upgrade'
              GROUP BY cause, project, workspace_id`,
      query_params: { org: p.org, from: firstDayOf(p.period), to: lastDayOf(p.period) },
      format: "JSONEachRow",
      query_id: `ledger.upgrade_attribution.${tag}`,
    }),
    ch.client.query({
      query: `SELECT cause AS upgrade_source, uniqExact(workspace_id, trace_id) AS traces FROM ${ch.table("upgrade_alternatives_v1")}
              WHERE org_id = {org:String} AND upgraded_period = {period:String} AND source != cause
              GROUP BY cause`,
      query_params: { org: p.org, period: p.period },
      format: "JSONEachRow",
      query_id: `ledger.upgrade_alternatives.${tag}`,
    }),
    unitPriceMicros(p.org, p.period),
  ]);
  const alternatives = new Map(z.array(alternativeRow).parse(await alternativesRs.json()).map((a) => [a.upgrade_source, a.traces]));
  const groups = z.array(groupRow).parse(await groupsRs.json());
  // What turning a source off would have saved: its upgrades less those another source reached.
  const soleOf = new Map<string, number>();
  for (const g of groups) soleOf.set(g.source, (soleOf.get(g.source) ?? 0) + g.upgrades);
  for (const [source, reached] of alternatives) soleOf.set(source, (soleOf.get(source) ?? 0) - reached);
  const groupOf = (g: z.output<typeof groupRow>, cause: UpgradeCause): string | null => {
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
        return g.project_id || "(unknown project)";
      case "workspace":
        return g.workspace_id;
    }
  };
  const counts = new Map<string, { n: number; sole: number | null; sources: Set<string> }>();
  let total = 0;
  for (const g of groups) {
    total += g.upgrades;
    const cause = causeOf(g.source);
    const group = groupOf(g, cause);
    if (group === null) continue;
    // Only a rule, a queue or a feedback key can be turned off, and only cause groupings name one.
    const switchable = p.by !== "project" && p.by !== "workspace" && (cause.type === "rule" || cause.type === "queue" || (cause.type === "feedback" && cause.id !== undefined));
    const c = counts.get(group) ?? { n: 0, sole: switchable ? 0 : null, sources: new Set<string>() };
    c.n += g.upgrades;
    // A source's saving is whole, across its projects and workspaces: added once per group.
    if (c.sole !== null && !c.sources.has(g.source)) c.sole += soleOf.get(g.source) ?? 0;
    c.sources.add(g.source);
    counts.set(group, c);
  }
  const rows = [...counts]
    .map(([group, c]) => ({ group, upgrades: c.n, cost_usd: formatUsd(BigInt(c.n) * unit), sole_upgrades: c.sole, saving_usd: c.sole === null ? null : formatUsd(BigInt(c.sole) * unit) }))
    .sort((a, b) => b.upgrades - a.upgrades || (a.group < b.group ? -1 : 1));
  return { org_id: p.org, period: p.period, by: p.by, unit_price_usd: formatUsd(unit), upgrades: total, cost_usd: formatUsd(BigInt(total) * unit), rows };
}

/** What upgraded a trace: a rule, queue or feedback (with its key if the API tier gave it), or its creation as extended. */
type UpgradeCause = { type: "rule" | "queue"; id: string; label: string } | { type: "feedback"; id?: string; label: string } | { type: "creation" | "unrecorded"; label: string };

/** A recorded source (`rule:r-12`, `feedback`, `creation:project`, …) as attribution names it. */
function causeOf(source: string): UpgradeCause {
  const colon = source.indexOf(":");
  const kind = colon < 0 ? source : source.slice(0, colon);
  const id = colon < 0 ? undefined : source.slice(colon + 1);
  switch (kind) {
    case "rule":
    case "queue":
      return { type: kind, id: id ?? "", label: source };
    case "feedback":
      return id === undefined ? { type: "feedback", label: "feedback, key not given" } : { type: "feedback", id, label: source };
    case "creation":
      // Where the LangSmith API resolved the retention itself, which default made it extended.
      return { type: "creation", label: id === undefined ? "extended creation" : `extended creation (the ${id}'s default)` };
    default:
      return { type: "unrecorded", label: "(cause not recorded)" };
  }
}
