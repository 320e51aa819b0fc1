import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { invoiceOf, LEGACY_REASON, type BookedCount, type BookedSeatEvent, type InvoiceInput, type OrgConfiguration } from "../src";

// LG1 against a naive reading: a legacy organization's invoice is the same organization's
// invoice had it been created after pricing, line for line, except that every line of a period
// before 2024-07 (its own, or an adjustment of one) is at zero and says why, and an adjustment
// of such a period that changed only an amount is no change at all.
const PERIODS = ["2024-04", "2024-05", "2024-06", "2024-07", "2024-08"] as const;
const period = fc.constantFrom(...PERIODS);

const booked = fc.uniqueArray(
  fc.record({ usagePeriod: period, before: fc.bigInt({ min: 0n, max: 12_000n }), more: fc.bigInt({ min: 0n, max: 3_000n }) }),
  { selector: (r) => r.usagePeriod, maxLength: 5 },
).map((rows) => rows.map((r): BookedCount => ({ usagePeriod: r.usagePeriod, before: r.before, upTo: r.before + r.more })));

const seatEvents = fc.array(
  fc.record({ added: fc.boolean(), user: fc.constantFrom("u1", "u2", "u3"), day: fc.integer({ min: 0, max: 150 }), booked: period }),
  { maxLength: 8 },
).map((es) =>
  es.map((e): BookedSeatEvent => ({ type: e.added ? "seat-added" : "seat-removed", userId: e.user, occurredAtMs: Date.UTC(2024, 3, 1) + e.day * 86_400_000, bookedPeriod: e.booked })),
);

const config = (createdAt: string): OrgConfiguration => ({ occurredAtMs: Date.UTC(2024, 0, 1), plan: "plus", terms: {}, createdAtMs: Date.parse(createdAt) });

describe("LG1 (property)", () => {
  test("a legacy organization's lines are the priced ones, at zero with the reason before 2024-07 and unchanged from it", () => {
    fc.assert(
      fc.property(period, booked, booked, booked, seatEvents, (p, baseTraces, extendedUpgrades, deploymentRuns, seats) => {
        const input = (createdAt: string): InvoiceInput => ({
          orgId: "o",
          period: p,
          status: "open",
          baseTraces,
          extendedUpgrades,
          deploymentRuns,
          seatEvents: seats,
          configurations: [config(createdAt)],
        });
        const legacy = invoiceOf(input("2024-04-01T23:59:59.999Z"));
        const priced = invoiceOf(input("2024-04-02T00:00:00Z"));
        // Naively: the priced lines, those of waived periods at zero with the reason; an
        // adjustment of a waived period that changed only an amount changed nothing at zero.
        const waived = (l: { usagePeriod: string }) => l.usagePeriod < "2024-07";
        const expected = priced.lines
          .filter((l) => !(l.kind === "adjustment" && waived(l) && l.quantity === 0n))
          .map((l) => (waived(l) ? { ...l, amountMicros: 0n, reason: LEGACY_REASON } : l));
        expect(legacy.lines).toEqual(expected);
        expect(priced.lines.every((l) => l.reason === undefined)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
