import { z } from "zod";
import { dailySeries, dayKeyOf, daysEndingOn, isDayKey, USAGE_WINDOWS, type DailyUsagePoint } from "@ledger/billing";
import { identifier } from "@ledger/events";
import type { LedgerClickHouse } from "./client";
import { bookedCountsFrom } from "./usage-rollup";

export const dailyUsageParams = z.strictObject({
  org: identifier,
  workspace: identifier.optional(),
  days: z.coerce
    .number({ error: "must be 30, 60 or 90" })
    .refine((n) => (USAGE_WINDOWS as readonly number[]).includes(n), { error: "must be 30, 60 or 90" })
    .default(30),
  through: z.string().refine(isDayKey, { error: "must be a day YYYY-MM-DD" }).optional().meta({ description: "the last day shown, YYYY-MM-DD (default: today, UTC)" }),
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
 * workspaces) over the last 30, 60 or 90 days, from daily_booked_counts_v1: the rollups behind
 * daily_usage_v1, billing_usage_v1 and the invoices.
 */
export async function queryDailyUsage(ch: LedgerClickHouse, input: DailyUsageParams | Record<string, unknown>, nowMs: number): Promise<DailyUsage> {
  const p = dailyUsageParams.parse(input);
  const through = p.through ?? dayKeyOf(nowMs);
  const days = daysEndingOn(through, p.days);
  const asOf = new Date(nowMs).toISOString();
  const counts = bookedCountsFrom(ch, { org: p.org, fromDay: days[0], toDay: through });
  const rs = await ch.client.query({
    query: `SELECT toString(day) AS day_key, sumIf(traces, metric = 'base') AS base_traces, sumIf(traces, metric = 'upgrade') AS extended_upgrades
            FROM ${counts.from}
            ${p.workspace === undefined ? "" : "WHERE workspace_id = {ws:String}"}
            GROUP BY day_key`,
    query_params: { ...counts.params, ws: p.workspace ?? "" },
    format: "JSONEachRow",
    query_id: `ledger.daily_usage.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const rows = z.array(dayRow).parse(await rs.json());
  return { org_id: p.org, ...(p.workspace === undefined ? {} : { workspace_id: p.workspace }), through, days: p.days, as_of: asOf, series: dailySeries(days, rows.map((r) => ({ day: r.day_key, base_traces: r.base_traces, extended_upgrades: r.extended_upgrades }))) };
}
