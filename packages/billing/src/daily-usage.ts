import { DateTime } from "luxon";
import { periodFromKey } from "./period";

/** The windows the usage page offers: the last 30, 60 or 90 UTC days, ending on a given day. */
export const USAGE_WINDOWS = [30, 60, 90] as const;
export type UsageWindow = (typeof USAGE_WINDOWS)[number];

const DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export function isDayKey(value: string): boolean {
  return DAY.test(value) && DateTime.fromISO(value, { zone: "utc" }).isValid;
}

/** The UTC day (`YYYY-MM-DD`) of an instant. */
export function dayKeyOf(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** The `count` UTC days ending on `through` (inclusive), oldest first. */
export function daysEndingOn(through: string, count: number): string[] {
  if (!isDayKey(through)) throw new RangeError(`not a day YYYY-MM-DD: ${JSON.stringify(through)}`);
  const last = DateTime.fromISO(through, { zone: "utc" });
  return Array.from({ length: count }, (_, i) => last.minus({ days: count - 1 - i }).toISODate()!);
}

/** Both billable metrics of one UTC day (rule P1's instants: creation for base, the upgrade for extended). */
export interface DailyUsagePoint {
  day: string;
  base_traces: number;
  extended_upgrades: number;
}

/**
 * One point per day of the window, in order, days without usage as zeros (a chart and a table
 * show every day, not only those with rows). Rows outside the window are ignored; rows of the
 * same day (several workspaces) are added.
 */
export function dailySeries(days: readonly string[], rows: readonly DailyUsagePoint[]): DailyUsagePoint[] {
  const byDay = new Map(days.map((day) => [day, { day, base_traces: 0, extended_upgrades: 0 }]));
  for (const r of rows) {
    const p = byDay.get(r.day);
    if (!p) continue;
    p.base_traces += r.base_traces;
    p.extended_upgrades += r.extended_upgrades;
  }
  return [...byDay.values()];
}

/** The first and the last UTC day (`YYYY-MM-DD`) of a billing period `YYYY-MM`. */
export function firstDayOf(period: string): string {
  return dayKeyOf(periodFromKey(period).startMs);
}
export function lastDayOf(period: string): string {
  return dayKeyOf(periodFromKey(period).endMs - 1);
}
