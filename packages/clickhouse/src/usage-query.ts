import { z } from "zod";
import { firstDayOf, lastDayOf, isPeriodKey, rollUpToOrg, sortUsage, usageRow, type UsageRow } from "@ledger/billing";
import type { LedgerClickHouse } from "./client";
import { bookedCountsFrom } from "./usage-rollup";

/** A query parameter naming a billing period, refused with the same sentence wherever it is read. */
export const periodParam = z.string().refine(isPeriodKey, { error: "must be a period YYYY-MM" });

export const usageParams = z.strictObject({
  org: z.string({ error: "must be given once" }).min(1, { error: "must not be empty" }).max(128, { error: "must be at most 128 characters" }).optional(),
  from: periodParam.optional().meta({ description: "the first period YYYY-MM" }),
  to: periodParam.optional().meta({ description: "the last period YYYY-MM" }),
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
 * as billing_usage_v1 has them, read through daily_booked_counts_v1 with the organization and
 * the periods' days as its arguments (so one organization's usage reads its rollups only);
 * rolled up per org unless asked by workspace.
 */
export async function queryUsage(ch: LedgerClickHouse, input: UsageParams = {}): Promise<UsageRow[]> {
  const p = usageParams.parse(input);
  const counts = bookedCountsFrom(ch, { org: p.org, fromDay: p.from && firstDayOf(p.from), toDay: p.to && lastDayOf(p.to) });
  const rs = await ch.client.query({
    query: `SELECT org_id, workspace_id, left(toString(day), 7) AS period,
                   sumIf(traces, metric = 'base') AS base_traces, sumIf(traces, metric = 'upgrade') AS extended_upgrades
            FROM ${counts.from}
            GROUP BY org_id, workspace_id, period
            HAVING base_traces > 0 OR extended_upgrades > 0`,
    query_params: counts.params,
    format: "JSONEachRow",
    query_id: `ledger.usage.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const rows = z.array(usageDbRow).parse(await rs.json());
  const byWorkspace = sortUsage(
    rows.map((r) => usageRow({ org_id: r.org_id, workspace_id: r.workspace_id, period: r.period }, r.base_traces, r.extended_upgrades)),
  );
  return p.by === "workspace" ? byWorkspace : rollUpToOrg(byWorkspace);
}
