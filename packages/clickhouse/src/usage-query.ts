import { z } from "zod";
import { isPeriodKey, rollUpToOrg, sortUsage, usageRow, type UsageRow } from "@ledger/billing";
import type { LedgerClickHouse } from "./client";

export const usageParams = z.strictObject({
  org: z.string({ error: "must be given once" }).min(1, { error: "must not be empty" }).max(128, { error: "must be at most 128 characters" }).optional(),
  from: z.string().refine(isPeriodKey, { error: "must be a period YYYY-MM" }).optional(),
  to: z.string().refine(isPeriodKey, { error: "must be a period YYYY-MM" }).optional(),
  by: z.enum(["org", "workspace"], { error: "must be org or workspace" }).default("org"),
});
export type UsageParams = z.input<typeof usageParams>;

const usageDbRow = z.object({
  org_id: z.string(),
  workspace_id: z.string(),
  period: z.string(),
  base_traces: z.coerce.number().int().nonnegative(),
  extended_upgrades: z.coerce.number().int().nonnegative(),
});

/**
 * Named query `ledger.usage`: both metrics per (org, workspace, period) with a non-zero metric,
 * from the billing view; rolled up per org unless asked by workspace.
 */
export async function queryUsage(ch: LedgerClickHouse, input: UsageParams = {}): Promise<UsageRow[]> {
  const p = usageParams.parse(input);
  const where = ["(base_traces > 0 OR extended_upgrades > 0)"];
  if (p.org !== undefined) where.push("org_id = {org:String}");
  if (p.from !== undefined) where.push("period >= {from:String}");
  if (p.to !== undefined) where.push("period <= {to:String}");
  const rs = await ch.client.query({
    query: `SELECT org_id, workspace_id, period, base_traces, extended_upgrades
            FROM ${ch.table("billing_usage_v1")}
            WHERE ${where.join(" AND ")}`,
    query_params: { org: p.org, from: p.from, to: p.to },
    format: "JSONEachRow",
    query_id: `ledger.usage.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const rows = z.array(usageDbRow).parse(await rs.json());
  const byWorkspace = sortUsage(
    rows.map((r) => usageRow({ org_id: r.org_id, workspace_id: r.workspace_id, period: r.period }, r.base_traces, r.extended_upgrades)),
  );
  return p.by === "workspace" ? byWorkspace : rollUpToOrg(byWorkspace);
}
