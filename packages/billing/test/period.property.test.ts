import fc from "fast-check";
import { DateTime } from "luxon";
import { describe, expect, test } from "vitest";
import { nextPeriod, periodFromKey, periodKeyOf, periodOf } from "../src";

// Instants from 1970 to 2199, the range the ledger accepts.
const instant = fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) - 1 });

describe("billing periods (P1)", () => {
  test("the fast key equals luxon's UTC month, the reference model", () => {
    fc.assert(
      fc.property(instant, (ms) => {
        expect(periodKeyOf(ms)).toBe(DateTime.fromMillis(ms, { zone: "utc" }).toFormat("yyyy-MM"));
      }),
      { numRuns: 5_000 },
    );
  });

  test("every instant lies in its period, half-open: start inclusive, end exclusive", () => {
    fc.assert(
      fc.property(instant, (ms) => {
        const p = periodOf(ms);
        expect(p.startMs).toBeLessThanOrEqual(ms);
        expect(ms).toBeLessThan(p.endMs);
        expect(periodKeyOf(p.startMs)).toBe(p.key);
        expect(periodKeyOf(p.endMs - 1)).toBe(p.key);
        expect(periodKeyOf(p.endMs)).not.toBe(p.key);
      }),
    );
  });

  test("periods tile time: the next period starts where this one ends, and keys round-trip", () => {
    fc.assert(
      fc.property(instant, (ms) => {
        const p = periodOf(ms);
        const n = nextPeriod(p);
        expect(n.startMs).toBe(p.endMs);
        expect(periodFromKey(p.key)).toEqual(p);
        expect(n.key > p.key).toBe(true);
      }),
    );
  });

  test("month, year and leap-day boundaries", () => {
    expect(periodKeyOf(Date.parse("2024-06-30T23:59:59.999Z"))).toBe("2024-06");
    expect(periodKeyOf(Date.parse("2024-07-01T00:00:00.000Z"))).toBe("2024-07");
    expect(periodKeyOf(Date.parse("2024-12-31T23:59:59.999Z"))).toBe("2024-12");
    expect(periodKeyOf(Date.parse("2025-01-01T00:00:00.000Z"))).toBe("2025-01");
    expect(periodKeyOf(Date.parse("2024-02-29T23:59:59.999Z"))).toBe("2024-02");
    expect(periodOf(Date.parse("2024-02-10T00:00:00Z")).endMs).toBe(Date.parse("2024-03-01T00:00:00Z"));
    expect(periodOf(Date.parse("2023-02-10T00:00:00Z")).endMs).toBe(Date.parse("2023-03-01T00:00:00Z"));
    expect(() => periodFromKey("2024-13")).toThrow(/YYYY-MM/);
  });
});
