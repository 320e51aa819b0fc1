import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { applyCredits, consumedBy, creditBalances, type CreditApplied, type CreditGrant, type CreditVoid } from "../src";

// §10.7 (CR1–CR5) against a naive reading of the rules: months issued one after another, each
// final invoice drawing on the grants known at its close, balances conserved throughout.
const PERIODS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"] as const;
const period = fc.constantFrom(...PERIODS);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const grants = fc
  .uniqueArray(
    fc.record({
      grantId: fc.constantFrom("a", "b", "c", "d", "e", "f", "g"),
      amountMicros: fc.bigInt({ min: 1n, max: 80_000_000n }),
      first: period,
      span: fc.option(fc.nat({ max: 5 }), { nil: null }),
      closedBefore: maybe(period),
    }),
    { selector: (g) => g.grantId, maxLength: 6 },
  )
  .map((gs) =>
    gs.map(
      (g): CreditGrant => ({
        grantId: g.grantId,
        amountMicros: g.amountMicros,
        firstPeriod: g.first,
        lastPeriod: g.span === null ? null : PERIODS[Math.min(PERIODS.length - 1, PERIODS.indexOf(g.first) + g.span)]!,
        reason: "r",
        grantedAtMs: 0,
        ...(g.closedBefore !== undefined ? { closedBefore: g.closedBefore } : {}),
      }),
    ),
  );
const voids = fc.array(fc.record({ grantId: fc.constantFrom("a", "b", "c", "x"), closedBefore: maybe(period) }), { maxLength: 3 }).map((vs) =>
  vs.map((v): CreditVoid => ({ grantId: v.grantId, voidedAtMs: 0, ...(v.closedBefore !== undefined ? { closedBefore: v.closedBefore } : {}) })),
);
const totals = fc.array(fc.bigInt({ min: -5_000_000n, max: 60_000_000n }), { minLength: PERIODS.length, maxLength: PERIODS.length });

/** The rules read plainly: for each month in order, the usable grants by (ends first, starts first, id). */
function naive(gs: CreditGrant[], vs: CreditVoid[], ts: bigint[]): CreditApplied[][] {
  const used = new Map<string, bigint>();
  return PERIODS.map((p, i) => {
    const knownAtClose = (closedBefore?: string) => closedBefore === undefined || closedBefore < p;
    const usable = gs
      .filter((g) => knownAtClose(g.closedBefore) && !vs.some((v) => v.grantId === g.grantId && knownAtClose(v.closedBefore)))
      .filter((g) => g.firstPeriod <= p && (g.lastPeriod ?? "9999-99") >= p)
      .sort((x, y) => ((x.lastPeriod ?? "9999-99") + x.firstPeriod + x.grantId < (y.lastPeriod ?? "9999-99") + y.firstPeriod + y.grantId ? -1 : 1));
    let left = ts[i]! > 0n ? ts[i]! : 0n;
    const lines: CreditApplied[] = [];
    for (const g of usable) {
      const remaining = g.amountMicros - (used.get(g.grantId) ?? 0n);
      const take = remaining < left ? remaining : left;
      if (take > 0n) {
        lines.push({ grantId: g.grantId, amountMicros: take });
        used.set(g.grantId, (used.get(g.grantId) ?? 0n) + take);
        left -= take;
      }
    }
    return lines;
  });
}

/** The ledger's way: each final invoice sees what the finals before it consumed. */
function issued(gs: CreditGrant[], vs: CreditVoid[], ts: bigint[]): CreditApplied[][] {
  const finals: { credits: CreditApplied[] }[] = [];
  for (const [i, p] of PERIODS.entries()) {
    finals.push({ credits: applyCredits({ period: p, final: true, totalMicros: ts[i]!, grants: gs, voids: vs, consumedMicros: consumedBy(finals) }) });
  }
  return finals.map((f) => f.credits);
}

describe("credits (CR1–CR5)", () => {
  test("each month's credit lines are the naive reading's", () => {
    fc.assert(fc.property(grants, voids, totals, (gs, vs, ts) => {
        expect(issued(gs, vs, ts)).toEqual(naive(gs, vs, ts));
      }), { numRuns: 500 });
  });

  test("never more than the total, never negative, never more than a grant holds; granted = consumed + remaining + voided", () => {
    fc.assert(
      fc.property(grants, voids, totals, (gs, vs, ts) => {
        const lines = issued(gs, vs, ts);
        lines.forEach((ls, i) => {
          const taken = ls.reduce((t, c) => t + c.amountMicros, 0n);
          expect(taken <= (ts[i]! > 0n ? ts[i]! : 0n)).toBe(true);
          for (const c of ls) expect(c.amountMicros > 0n).toBe(true);
        });
        const consumed = consumedBy(lines.map((credits) => ({ credits })));
        for (const b of creditBalances(gs, vs, consumed)) {
          expect(b.consumedMicros <= b.grant.amountMicros).toBe(true);
          expect(b.consumedMicros + b.remainingMicros + b.voidedMicros).toBe(b.grant.amountMicros);
          expect(b.remainingMicros >= 0n && b.voidedMicros >= 0n).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("an invoice takes min(its total, what its usable grants hold), whatever order the grants were listed in", () => {
    fc.assert(
      fc.property(grants, voids, fc.bigInt({ min: 0n, max: 200_000_000n }), period, fc.boolean(), (gs, vs, total, p, final) => {
        const req = { period: p, final, totalMicros: total, voids: vs, consumedMicros: new Map<string, bigint>() };
        const lines = applyCredits({ ...req, grants: gs });
        expect(applyCredits({ ...req, grants: [...gs].reverse() })).toEqual(lines);
        const known = (c?: string) => !final || c === undefined || c < p;
        const holding = gs
          .filter((g) => known(g.closedBefore) && !vs.some((v) => v.grantId === g.grantId && known(v.closedBefore)) && g.firstPeriod <= p && (g.lastPeriod === null || g.lastPeriod >= p))
          .reduce((t, g) => t + g.amountMicros, 0n);
        expect(lines.reduce((t, c) => t + c.amountMicros, 0n)).toBe(total < holding ? total : holding);
      }),
      { numRuns: 500 },
    );
  });

  test("a preview knows what came after the close; a final invoice does not (CR1)", () => {
    const late: CreditGrant = { grantId: "late", amountMicros: 10_000_000n, firstPeriod: "2024-06", lastPeriod: null, reason: "r", grantedAtMs: 0, closedBefore: "2024-06" };
    const base = { period: "2024-06", totalMicros: 39_000_000n, grants: [late], voids: [], consumedMicros: new Map<string, bigint>() };
    expect(applyCredits({ ...base, final: true })).toEqual([]);
    expect(applyCredits({ ...base, final: false })).toEqual([{ grantId: "late", amountMicros: 10_000_000n }]);
    expect(applyCredits({ ...base, period: "2024-07", final: true })).toEqual([{ grantId: "late", amountMicros: 10_000_000n }]);
  });
});
