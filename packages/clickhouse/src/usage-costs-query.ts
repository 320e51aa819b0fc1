import { z } from "zod";
import { firstDayOf, formatUsd, lastDayOf, type PlanPrices } from "@ledger/billing";
import { identifier } from "@ledger/events";
import type { LedgerClickHouse } from "./client";
import { periodParam } from "./usage-query";

export const USAGE_COST_GROUPINGS = ["workspace", "project"] as const;

export const usageCostsParams = z.strictObject({
  org: identifier,
  period: periodParam.meta({ description: "the period YYYY-MM" }),
  by: z.enum(USAGE_COST_GROUPINGS, { error: `must be one of ${USAGE_COST_GROUPINGS.join(", ")}` }).default("workspace"),
});
export type UsageCostsParams = z.input<typeof usageCostsParams>;

/** One workspace's or project's usage of a period and what it costs at list price. */
export interface UsageCostRow {
  group: string;
  base_traces: number;
  extended_upgrades: number;
  /** base traces × the base price + upgrades × the upgrade price (before the allotment). */
  list_usd: string;
}

/** `GET /v1/usage/costs`: a period's usage cost per workspace or project (§4.3). */
export interface UsageCosts {
  org_id: string;
  period: string;
  by: (typeof USAGE_COST_GROUPINGS)[number];
  base_trace_usd: string;
  upgrade_usd: string;
  /** Largest first. */
  rows: UsageCostRow[];
  /** The groups' sum. */
  list_usd: string;
  /** The organization's free allotment, taken off once for all groups: the base traces it covers and their list price (a negative amount). */
  allotment: { base_traces: number; usd: string };
  /** The list total less the allotment: what the period's base traces and upgrades cost. */
  usage_usd: string;
}

const row = z.object({ workspace_id: z.string(), project_id: z.string(), base: z.coerce.number(), upgrades: z.coerce.number() });

/**
 * Named query `ledger.usage_costs`: per (workspace, project) the period's base traces and
 * upgrades from the rollups the bill counts (`usage_breakdown_v1`: sealed hours and the rest from
 * their rows), each trace in its creation's (upgrade's) hour with its project, then grouped and priced.
 */
export async function queryUsageCosts(ch: LedgerClickHouse, input: UsageCostsParams | Record<string, unknown>, pricesOf: (org: string, period: string) => Promise<PlanPrices>): Promise<UsageCosts> {
  const p = usageCostsParams.parse(input);
  const rs = await ch.client.query({
    query: `SELECT workspace_id, project AS project_id, sumIf(traces, metric = 'base') AS base, sumIf(traces, metric = 'upgrade') AS upgrades
            FROM ${ch.table("usage_breakdown_v1")}(org = {org:String}, from = {from:Date32}, to = {to:Date32})
            GROUP BY workspace_id, project`,
    query_params: { org: p.org, from: firstDayOf(p.period), to: lastDayOf(p.period) },
    format: "JSONEachRow",
    query_id: `ledger.usage_costs.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const counts = z.array(row).parse(await rs.json());
  const prices = await pricesOf(p.org, p.period);
  const groups = new Map<string, { base: number; upgrades: number }>();
  for (const c of counts) {
    const g = p.by === "workspace" ? c.workspace_id : c.project_id || "(unknown project)";
    const acc = groups.get(g) ?? { base: 0, upgrades: 0 };
    acc.base += c.base;
    acc.upgrades += c.upgrades;
    groups.set(g, acc);
  }
  const list = (base: number, upgrades: number) => BigInt(base) * prices.baseTraceMicros + BigInt(upgrades) * prices.upgradeMicros;
  const rows = [...groups]
    .map(([group, c]) => ({ group, base_traces: c.base, extended_upgrades: c.upgrades, micros: list(c.base, c.upgrades) }))
    .sort((a, b) => (a.micros !== b.micros ? (b.micros > a.micros ? 1 : -1) : a.group < b.group ? -1 : 1));
  const base = rows.reduce((t, r) => t + r.base_traces, 0);
  const upgrades = rows.reduce((t, r) => t + r.extended_upgrades, 0);
  const free = BigInt(base) < prices.freeBaseTraces ? BigInt(base) : prices.freeBaseTraces;
  const total = list(base, upgrades);
  return {
    org_id: p.org,
    period: p.period,
    by: p.by,
    base_trace_usd: formatUsd(prices.baseTraceMicros),
    upgrade_usd: formatUsd(prices.upgradeMicros),
    rows: rows.map(({ micros, ...r }) => ({ ...r, list_usd: formatUsd(micros) })),
    list_usd: formatUsd(total),
    allotment: { base_traces: Number(free), usd: formatUsd(-free * prices.baseTraceMicros) },
    usage_usd: formatUsd(total - free * prices.baseTraceMicros),
  };
}
