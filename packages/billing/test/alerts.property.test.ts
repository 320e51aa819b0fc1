import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { alertEventIdOf, alertRequestOf, alertRuleOf, microsOfUsd, newlyCrossed, usageThresholdCrossed } from "../src";

// §6.6 against a naive reading: a threshold t is crossed when value / target ≥ t / 100, read with
// exact fractions; crossed once (what was alerted stays alerted); looking twice, or at a higher
// value later, never alerts a threshold again.
describe("threshold alerts (AL1, AL2; property)", () => {
  test("crossed exactly when value / target reaches t %, each threshold once over any sequence of looks", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }),
        fc.bigInt({ min: 1n, max: 10n ** 9n }),
        fc.array(fc.bigInt({ min: 0n, max: 2n * 10n ** 9n }), { minLength: 1, maxLength: 6 }),
        (thresholds, target, looks) => {
          const alerted = new Set<number>();
          const announced: number[] = [];
          for (const value of looks) {
            const now = newlyCrossed(thresholds, value, target, alerted);
            // Naively: every threshold whose fraction the value has reached, less those announced.
            const naive = thresholds.filter((t) => !alerted.has(t) && value * 100n >= target * BigInt(t));
            expect(now).toEqual(naive);
            for (const t of now) {
              alerted.add(t);
              announced.push(t);
            }
          }
          expect(new Set(announced).size).toBe(announced.length);
          // Every threshold the highest value reached is announced by the end.
          const highest = looks.reduce((a, b) => (a > b ? a : b));
          for (const t of thresholds) if (highest * 100n >= target * BigInt(t)) expect(alerted.has(t)).toBe(true);
        },
      ),
    );
  });

  test("a rule from its request, and the event of a crossing", () => {
    const rule = alertRuleOf("acme", { workspace_id: "prod", limit: "all_traces", at: [100, 50, 80, 50] }, microsOfUsd);
    expect(rule).toEqual({ orgId: "acme", alertId: "workspace:prod:all_traces", metric: "all_traces", workspaceId: "prod", thresholds: [50, 80, 100] });
    expect(alertRequestOf(rule)).toEqual({ workspace_id: "prod", limit: "all_traces", at: [50, 80, 100] });
    const spend = alertRuleOf("acme", { spend_usd: "500", at: [80] }, microsOfUsd);
    expect(spend).toMatchObject({ alertId: "spend", spendMicros: 500_000_000n });
    expect(newlyCrossed([80], 399_999_999n, 500_000_000n, new Set())).toEqual([]);
    expect(newlyCrossed([80], 400_000_000n, 500_000_000n, new Set())).toEqual([80]);
    expect(newlyCrossed([50], 10n, 0n, new Set())).toEqual([]);
    expect(usageThresholdCrossed(spend, "2024-06", 80, 400_000_000n, 500_000_000n, Date.UTC(2024, 5, 20))).toEqual({
      type: "usage-threshold-crossed",
      id: alertEventIdOf("acme", "spend", "2024-06", 80),
      org_id: "acme",
      metric: "spend",
      period: "2024-06",
      threshold_percent: 80,
      value: "400.00",
      target: "500.00",
      unit: "usd",
      crossed_at: "2024-06-20T00:00:00.000Z",
    });
    expect(alertEventIdOf("acme", "spend", "2024-06", 80)).toBe("alert/acme/spend/2024-06/80");
  });
});
