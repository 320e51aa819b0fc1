import { z } from "zod";
import { dailySeries, dayKeyOf, daysEndingOn, isDayKey, USAGE_WINDOWS, type DailyUsagePoint } from "@ledger/billing";
import { identifier } from "@ledger/events";
import type { LedgerClickHouse } from "./client";

export const dailyUsageParams = z.strictObject({
  org: identifier,
  workspace: identifier.optional(),
  days: z.coerce
    .number({ error: "must be 30, 60 or 90" })
    .refine((n) => (USAGE_WINDOWS as readonly number[]).includes(n), { error: "must be 30, 60 or 90" })
    .default(30),
  through: z.string().refine(isDayKey, { error: "must be a day YYYY-MM-DD" }).optional(),
});
export type DailyUsageParams = z.input<typeof dailyUsageParams>;

export interface DailyUsage {
  org_id: string;
  workspace_id?: string;
  /** The window: `days` UTC days ending on `through`. */
  through: string;
  days: number;
  /** When ClickHouse was read: rows that arrive later are not in these figures. */
  as_of: string;
  series: DailyUsagePoint[];
}

const dayRow = z.object({ day_key: z.string(), base_traces: z.coerce.number(), extended_upgrades: z.coerce.number() });

/**
 * Named query `ledger.daily_usage`: both metrics per UTC day for one organization (or one of its
 * workspaces) over the last 30, 60 or 90 days, from daily_usage_v1: the view analysts read,
 * whose days add up to billing_usage_v1.
 */
export async function queryDailyUsage(ch: LedgerClickHouse, input: DailyUsageParams | Record<string, unknown>, nowMs: number): Promise<DailyUsage> {
  const p = dailyUsageParams.parse(input);
  const through = p.through ?? dayKeyOf(nowMs);
  const days = daysEndingOn(through, p.days);
  const asOf = new Date(nowMs).toISOString();
  const rs = await ch.client.query({
    query: `SELECT toString(day) AS day_key, sum(base_traces) AS base_traces, sum(extended_upgrades) AS extended_upgrades
            FROM ${ch.table("daily_usage_v1")}
            WHERE org_id = {org:String} ${p.workspace === undefined ? "" : "AND workspace_id = {ws:String}"}
              AND day BETWEEN {from:Date} AND {to:Date}
            GROUP BY day_key`,
    query_params: { org: p.org, ws: p.workspace ?? "", from: days[0], to: through },
    format: "JSONEachRow",
    query_id: `ledger.daily_usage.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const rows = z.array(dayRow).parse(await rs.json());
  return { org_id: p.org, ...(p.workspace === undefined ? {} : { workspace_id: p.workspace }), through, days: p.days, as_of: asOf, series: dailySeries(days, rows.map((r) => ({ day: r.day_key, base_traces: r.base_traces, extended_upgrades: r.extended_upgrades }))) };
}
