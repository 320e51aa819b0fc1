import { DateTime } from "luxon";

/** A billing period: a calendar month in UTC, half-open [start, end). Key `YYYY-MM` (rule P1). */
export interface BillingPeriod {
  readonly key: string;
  /** Epoch milliseconds of the first instant of the month (inclusive). */
  readonly startMs: number;
  /** Epoch milliseconds of the first instant of the next month (exclusive). */
  readonly endMs: number;
}

const PERIOD_KEY = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isPeriodKey(value: string): boolean {
  return PERIOD_KEY.test(value);
}

/** The billing period an instant (epoch ms, already UTC) belongs to. */
export function periodOf(epochMs: number): BillingPeriod {
  const at = DateTime.fromMillis(epochMs, { zone: "utc" });
  return periodFromStart(at.startOf("month"));
}

export function periodKeyOf(epochMs: number): string {
  // Hot path (every event): plain Date arithmetic gives the same UTC month as luxon and is
  // property-tested against periodOf().
  const d = new Date(epochMs);
  const m = d.getUTCMonth() + 1;
  const y = d.getUTCFullYear();
  return `${String(y).padStart(4, "0")}-${m < 10 ? "0" : ""}${m}`;
}

export function periodFromKey(key: string): BillingPeriod {
  const m = PERIOD_KEY.exec(key);
  if (!m) throw new RangeError(`not a billing period key (YYYY-MM): ${JSON.stringify(key)}`);
  return periodFromStart(DateTime.utc(Number(m[1]), Number(m[2]), 1));
}

export function nextPeriod(period: BillingPeriod): BillingPeriod {
  return periodOf(period.endMs);
}

function periodFromStart(start: DateTime): BillingPeriod {
  return {
    key: start.toFormat("yyyy-MM"),
    startMs: start.toMillis(),
    endMs: start.plus({ months: 1 }).toMillis(),
  };
}
