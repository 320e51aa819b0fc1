import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { dailyRateText, defaultForecastThrough, forecastUsage, limitUsdMicros, DEFAULT_CATALOGUE, type DailyUsagePoint } from "../src";

// §4.2 against a naive reading: walk the calendar day by day, add what each day of the period
// up to `through` used, average the 7 and 28 days ending on `through` as floating rates and
// project the remaining days, rounding half up (the counts are small enough to be exact).
const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const history = fc.record({
  month: fc.integer({ min: 0, max: 11 }),
  throughOffset: fc.integer({ min: -1, max: 30 }),
  counts: fc.array(fc.tuple(fc.nat(5_000), fc.nat(600)), { minLength: 62, maxLength: 62 }),
  gaps: fc.array(fc.nat(61), { maxLength: 10 }),
});

function naive(period: string, through: string, series: readonly DailyUsagePoint[], metric: "base_traces" | "extended_upgrades") {
  const start = Date.parse(`${period}-01T00:00:00Z`);
  const end = new Date(start);
  end.setUTCMonth(end.getUTCMonth() + 1);
  const of = (d: string) => series.find((p) => p.day === d)?.[metric] ?? 0;
  let soFar = 0;
  let counted = 0;
  let inPeriod = 0;
  for (let t = start; t < end.getTime(); t += DAY) {
    inPeriod++;
    if (day(t) <= through) {
      soFar += of(day(t));
      counted++;
    }
  }
  const throughMs = Date.parse(`${through}T00:00:00Z`);
  const windowSum = (w: number) => Array.from({ length: w }, (_, i) => of(day(throughMs - i * DAY))).reduce((a, b) => a + b, 0);
  const projections = [7, 28].map((w) => soFar + Math.floor((windowSum(w) / w) * (inPeriod - counted) + 0.5 + 1e-9));
  return { soFar, low: Math.min(...projections), high: Math.max(...projections), counted, inPeriod };
}

describe("the month-end forecast (property)", () => {
  test("so far, low and high are the naive day-by-day reading's", () => {
    fc.assert(
      fc.property(history, ({ month, throughOffset, counts, gaps }) => {
        const period = `2024-${String(month + 1).padStart(2, "0")}`;
        const start = Date.parse(`${period}-01T00:00:00Z`);
        const through = day(start + throughOffset * DAY);
        if (through > day(new Date(Date.UTC(2024, month + 1, 1)).getTime() - DAY)) return;
        // 62 days ending on `through`'s month end, some of them missing (no usage rows).
        const first = start - 31 * DAY;
        const series = counts
          .map(([b, u], i) => ({ day: day(first + i * DAY), base_traces: b, extended_upgrades: u }))
          .filter((_, i) => !gaps.includes(i));
        const f = forecastUsage(period, through, series);
        for (const [metric, q] of [["base_traces", f.baseTraces], ["extended_upgrades", f.extendedUpgrades]] as const) {
          const n = naive(period, through, series, metric);
          expect({ soFar: Number(q.soFar), low: Number(q.low), high: Number(q.high) }).toEqual({ soFar: n.soFar, low: n.low, high: n.high });
          expect(f.daysCounted).toBe(n.counted);
          expect(f.daysInPeriod).toBe(n.inPeriod);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("§4.2's example: 6,000 so far, 2,100 in the last 7 days, 11,200 in the last 28", () => {
    const series: DailyUsagePoint[] = [];
    for (let i = 0; i < 28; i++) {
      const d = day(Date.UTC(2024, 4, 19) + i * DAY);
      // 19–31 May: 5,200 in 13 days; 1–8 June: 3,900; 9–15 June: 2,100.
      const n = d < "2024-06-01" ? 400 : d < "2024-06-09" ? (d === "2024-06-01" ? 1_100 : 400) : 300;
      series.push({ day: d, base_traces: n, extended_upgrades: 0 });
    }
    const f = forecastUsage("2024-06", "2024-06-15", series);
    expect(f.baseTraces.windowTotals).toEqual([2_100n, 11_200n]);
    expect(f.baseTraces).toMatchObject({ soFar: 6_000n, low: 10_500n, high: 12_000n });
  });

  test("a period counted to its last day forecasts what it used, exactly", () => {
    const series = Array.from({ length: 30 }, (_, i) => ({ day: `2024-06-${String(i + 1).padStart(2, "0")}`, base_traces: 100 + i, extended_upgrades: i % 3 }));
    const f = forecastUsage("2024-06", "2024-06-30", series);
    expect(f.baseTraces).toMatchObject({ soFar: 3_435n, low: 3_435n, high: 3_435n });
    expect(f.extendedUpgrades).toMatchObject({ soFar: 30n, low: 30n, high: 30n });
  });

  test("counting through the day before the period: nothing so far, the whole month at the rates", () => {
    const series = Array.from({ length: 28 }, (_, i) => ({ day: day(Date.UTC(2024, 4, 4) + i * DAY), base_traces: i < 21 ? 10 : 38, extended_upgrades: 0 }));
    const f = forecastUsage("2024-06", "2024-05-31", series);
    // 7 days of 38 a day and 28 days averaging (21 × 10 + 7 × 38) / 28 = 17: 30 days each.
    expect(f.baseTraces).toMatchObject({ soFar: 0n, low: 510n, high: 1_140n });
    expect(f.daysCounted).toBe(0);
    expect(() => forecastUsage("2024-06", "2024-05-30", series)).toThrow(/not a day of 2024-06/);
  });

  test("the default day counted: yesterday within the period, its last day once it ended", () => {
    expect(defaultForecastThrough("2024-06", "2024-06-16")).toBe("2024-06-15");
    expect(defaultForecastThrough("2024-06", "2024-06-01")).toBe("2024-05-31");
    expect(defaultForecastThrough("2024-06", "2024-08-02")).toBe("2024-06-30");
  });

  test("rates for display and limits in dollars", () => {
    expect(dailyRateText(17n, 7)).toBe("2.4");
    expect(dailyRateText(0n, 28)).toBe("0.0");
    const plus = DEFAULT_CATALOGUE[0]!.plans.plus;
    // The example: 100,000 traces after the 10,000 free ones at $0.0005.
    expect(limitUsdMicros("all_traces", 100_000, plus)).toBe(45_000_000n);
    expect(limitUsdMicros("all_traces", 9_000, plus)).toBe(0n);
    expect(limitUsdMicros("extended_traces", 1_000, plus)).toBe(4_500_000n);
  });
});
