import { daysEndingOn, firstDayOf, lastDayOf, type DailyUsagePoint } from "./daily-usage";
import type { PlanPrices } from "./catalogue";

/**
 * §4.2: the open month so far and a month-end forecast. Whole UTC days only: what the period used
 * through a day, and the rest of the period at two recent daily rates, whose projections bound
 * the range. Exact in integers; a projected count is rounded half up to a whole trace.
 */
export const FORECAST_METHOD =
  "The month's usage through the last whole day counted, plus its remaining days at the last 7 days' daily rate and at the last 28 days' (the range runs between the two).";

export const FORECAST_WINDOWS = [7, 28] as const;

export interface QuantityForecast {
  soFar: bigint;
  low: bigint;
  high: bigint;
  /** Per window (7, 28): the window's total; the daily rate is it over the window's days. */
  windowTotals: [bigint, bigint];
}

export interface UsageForecast {
  period: string;
  /** The last day counted (it may be the day before the period's first when none is). */
  through: string;
  daysInPeriod: number;
  daysCounted: number;
  baseTraces: QuantityForecast;
  extendedUpgrades: QuantityForecast;
}

const DAY_MS = 86_400_000;
const dayIndex = (day: string) => Date.parse(`${day}T00:00:00Z`) / DAY_MS;

/** Which day a forecast of `period` counts through by default at `todayKey`: the last whole day, within the period. */
export function defaultForecastThrough(period: string, todayKey: string): string {
  const last = lastDayOf(period);
  if (todayKey > last) return last;
  return daysEndingOn(todayKey, 2)[0]!;
}

/**
 * The forecast of `period` from its usage through `through` (a day of the period, or the day
 * before it). `series` holds at least the 28 days ending on `through` and the period's days up to
 * it; a day it lacks counts as zero.
 */
export function forecastUsage(period: string, through: string, series: readonly DailyUsagePoint[]): UsageForecast {
  const first = firstDayOf(period);
  const last = lastDayOf(period);
  if (through > last || dayIndex(through) < dayIndex(first) - 1) throw new RangeError(`${through} is not a day of ${period} (or the day before it)`);
  const daysInPeriod = dayIndex(last) - dayIndex(first) + 1;
  const daysCounted = dayIndex(through) - dayIndex(first) + 1;
  const remaining = BigInt(daysInPeriod - daysCounted);
  const byDay = new Map(series.map((p) => [p.day, p]));
  const quantity = (metric: "base_traces" | "extended_upgrades"): QuantityForecast => {
    let soFar = 0n;
    for (let d = dayIndex(first); d <= dayIndex(through); d++) soFar += BigInt(byDay.get(dayKeyAt(d))?.[metric] ?? 0);
    const windowTotals = FORECAST_WINDOWS.map((w) => daysEndingOn(through, w).reduce((t, day) => t + BigInt(byDay.get(day)?.[metric] ?? 0), 0n)) as [bigint, bigint];
    // soFar + round_half_up(total / window × remaining), in integers.
    const projected = windowTotals.map((total, i) => {
      const w = BigInt(FORECAST_WINDOWS[i]!);
      return soFar + (2n * total * remaining + w) / (2n * w);
    });
    const [a, b] = projected as [bigint, bigint];
    return { soFar, low: a < b ? a : b, high: a < b ? b : a, windowTotals };
  };
  return { period, through, daysInPeriod, daysCounted, baseTraces: quantity("base_traces"), extendedUpgrades: quantity("extended_upgrades") };
}

const dayKeyAt = (index: number) => new Date(index * DAY_MS).toISOString().slice(0, 10);

/** A daily rate for display: the window's total over its days, to one decimal (half up). */
export function dailyRateText(total: bigint, days: number): string {
  const tenths = (20n * total + BigInt(days)) / (2n * BigInt(days));
  return `${tenths / 10n}.${tenths % 10n}`;
}

/**
 * §6.3 in dollars: what a workspace's monthly limit would cost at the organization's prices.
 * All traces: those past the free allotment at the base price (the allotment is the
 * organization's, so this is the most a workspace reaching its limit adds); extended traces: the
 * upgrade price each (their base part counts under all traces).
 */
export function limitUsdMicros(limit: "all_traces" | "extended_traces", value: number, prices: PlanPrices): bigint {
  const n = BigInt(value);
  if (limit === "extended_traces") return n * prices.upgradeMicros;
  return (n > prices.freeBaseTraces ? n - prices.freeBaseTraces : 0n) * prices.baseTraceMicros;
}
