import { z } from "zod";
import {
  amountDueMicros,
  catalogueVersionFor,
  creditsMicrosOf,
  dailyRateText,
  dayKeyOf,
  defaultForecastThrough,
  FORECAST_METHOD,
  FORECAST_WINDOWS,
  forecastUsage,
  formatUsd,
  invoiceOf,
  isDayKey,
  periodKeyOf,
  pricesOfPeriod,
  configurationOfPeriod,
  type BookedCount,
  type PriceCatalogue,
  type QuantityForecast,
} from "@ledger/billing";
import { identifier } from "@ledger/events";
import type { LedgerClickHouse } from "./client";
import { periodParam } from "./usage-query";
import { queryDailyUsage } from "./daily-usage-query";
import type { InvoiceSources } from "./invoice-query";
import { InvoiceRequestError } from "./invoice-request-error";

export const monthOutlookParams = z.strictObject({
  org: identifier,
  period: periodParam.optional().meta({ description: "the period YYYY-MM (default: the current one, UTC)" }),
  through: z
    .string()
    .refine(isDayKey, { error: "must be a day YYYY-MM-DD" })
    .optional()
    .meta({ description: "the last whole day counted, YYYY-MM-DD, in the period (default: yesterday, or the period's last day once it ended)" }),
});
export type MonthOutlookParams = z.input<typeof monthOutlookParams>;

/** A count so far and its month-end range. */
export interface OutlookQuantity {
  so_far: number;
  forecast_low: number;
  forecast_high: number;
  /** The daily rates the range comes from, over the last 7 and 28 days. */
  rate_7_days: string;
  rate_28_days: string;
}

/** Money so far and at the two ends of the range, as the period's invoice would rate it. */
export interface OutlookAmount {
  so_far: string;
  forecast_low: string;
  forecast_high: string;
}

/** `GET /v1/usage/outlook`: a period so far, its free allotment, and a month-end forecast (§4.2). */
export interface MonthOutlook {
  org_id: string;
  period: string;
  through: string;
  days_counted: number;
  days_in_period: number;
  as_of: string;
  method: string;
  plan: string;
  price_version: number;
  free_base_traces: { used: number; allotment: number };
  base_traces: OutlookQuantity;
  extended_upgrades: OutlookQuantity;
  /** The invoice's total (every charge line: usage, seats, deployment runs, adjustments). */
  total_usd: OutlookAmount;
  /** The total less the credits the invoice would take, rounded half up to the cent (AD1). */
  amount_due_usd: OutlookAmount;
  /** What the forecast holds fixed: lines other than base traces and upgrades, as known now. */
  fixed_usd: string;
}

/**
 * §4.2: the period's invoice rated three times from its sources, with the period's own base
 * traces and upgrades replaced by the whole days counted so far and by each end of the forecast;
 * every other line (seats, deployment runs, adjustments) and the credits as the preview has them.
 */
export async function monthOutlook(
  ch: LedgerClickHouse,
  input: MonthOutlookParams | Record<string, unknown>,
  nowMs: number,
  sourcesOf: (org: string, period: string) => Promise<{ sources: InvoiceSources; catalogue: PriceCatalogue }>,
): Promise<MonthOutlook> {
  const p = monthOutlookParams.parse(input);
  const period = p.period ?? periodKeyOf(nowMs);
  const through = p.through ?? defaultForecastThrough(period, dayKeyOf(nowMs));
  if (p.through !== undefined && p.through.slice(0, 7) !== period) throw new InvoiceRequestError(400, `through ${p.through} is not a day of the period ${period}`);
  // The period's days up to `through` and the 28 before: at most 59.
  const [daily, { sources, catalogue }] = await Promise.all([queryDailyUsage(ch, { org: p.org, days: 60, through }, nowMs), sourcesOf(p.org, period)]);
  const f = forecastUsage(period, through, daily.series);
  const rated = (base: bigint, upgrades: bigint) => {
    const replace = (rows: readonly BookedCount[], n: bigint): BookedCount[] => [
      ...rows.filter((r) => r.usagePeriod !== period),
      { usagePeriod: period, upTo: n, before: rows.find((r) => r.usagePeriod === period)?.before ?? 0n },
    ];
    const invoice = invoiceOf({ ...sources, baseTraces: replace(sources.baseTraces, base), extendedUpgrades: replace(sources.extendedUpgrades, upgrades), period, status: "open" }, catalogue);
    return { invoice, due: amountDueMicros(invoice.totalMicros, creditsMicrosOf(invoice)) };
  };
  const soFar = rated(f.baseTraces.soFar, f.extendedUpgrades.soFar);
  const low = rated(f.baseTraces.low, f.extendedUpgrades.low);
  const high = rated(f.baseTraces.high, f.extendedUpgrades.high);
  const prices = pricesOfPeriod(sources.configurations, period, catalogue);
  const usage = new Set(["base_traces", "extended_upgrades"]);
  const fixed = soFar.invoice.lines.filter((l) => !usage.has(l.kind)).reduce((t, l) => t + l.amountMicros, 0n);
  const quantity = (q: QuantityForecast): OutlookQuantity => ({
    so_far: Number(q.soFar),
    forecast_low: Number(q.low),
    forecast_high: Number(q.high),
    rate_7_days: dailyRateText(q.windowTotals[0], FORECAST_WINDOWS[0]),
    rate_28_days: dailyRateText(q.windowTotals[1], FORECAST_WINDOWS[1]),
  });
  return {
    org_id: p.org,
    period,
    through,
    days_counted: f.daysCounted,
    days_in_period: f.daysInPeriod,
    as_of: daily.as_of,
    method: FORECAST_METHOD,
    plan: configurationOfPeriod(sources.configurations, period)?.plan ?? "developer",
    price_version: catalogueVersionFor(catalogue, period).version,
    free_base_traces: { used: Number(f.baseTraces.soFar < prices.freeBaseTraces ? f.baseTraces.soFar : prices.freeBaseTraces), allotment: Number(prices.freeBaseTraces) },
    base_traces: quantity(f.baseTraces),
    extended_upgrades: quantity(f.extendedUpgrades),
    total_usd: { so_far: formatUsd(soFar.invoice.totalMicros), forecast_low: formatUsd(low.invoice.totalMicros), forecast_high: formatUsd(high.invoice.totalMicros) },
    amount_due_usd: { so_far: formatUsd(soFar.due), forecast_low: formatUsd(low.due), forecast_high: formatUsd(high.due) },
    fixed_usd: formatUsd(fixed),
  };
}
