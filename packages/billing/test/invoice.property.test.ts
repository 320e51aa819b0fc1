import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  adjustmentLines,
  amountDueMicros,
  catalogueVersionFor,
  CatalogueVersionError,
  DEFAULT_CATALOGUE,
  formatUsd,
  inEffectAtEndOf,
  invoiceOf,
  microsOfUsd,
  periodFromKey,
  pricesFor,
  pricesOfPeriod,
  proratedMicros,
  newSeatAssignments,
  ratePeriod,
  seatChargesOf,
  seatInvoiceOf,
  seatsOf,
  totalMicros,
  withCatalogueVersion,
  type BookedSeatEvent,
  type OrgConfiguration,
  type PeriodQuantities,
  type SeatEvent,
} from "../src";

// Spec §10: prices as data, seats (SE1–SE3), rating (§10.3) and adjustments (C4), against the
// worked examples of §10.5 and small reference models.
const at = (iso: string) => Date.parse(iso);
const plus = pricesFor(DEFAULT_CATALOGUE, "2024-06", "plus");
const q = (o: Partial<PeriodQuantities>): PeriodQuantities => ({ baseTraces: 0n, extendedUpgrades: 0n, deploymentRuns: 0n, ...o });
const usd = (lines: { amountMicros: bigint }[]) => formatUsd(totalMicros(lines));

describe("worked examples of §10.5 (a Plus organization, defaults)", () => {
  test("seats: u1, u2 from May; u3 added 16 June; u2 removed 20 June (SA1, SA2)", () => {
    const events: BookedSeatEvent[] = [
      { type: "seat-added", userId: "u1", occurredAtMs: at("2024-05-20T00:00:00Z"), bookedPeriod: "2024-05" },
      { type: "seat-added", userId: "u2", occurredAtMs: at("2024-05-20T00:00:00Z"), bookedPeriod: "2024-05" },
      { type: "seat-added", userId: "u3", occurredAtMs: at("2024-06-16T00:00:00Z"), bookedPeriod: "2024-06" },
      { type: "seat-removed", userId: "u2", occurredAtMs: at("2024-06-20T00:00:00Z"), bookedPeriod: "2024-06" },
    ];
    const monthly = (period: string) =>
      invoiceOf({ orgId: "o", period, status: "closed", baseTraces: [], extendedUpgrades: [], deploymentRuns: [], seatEvents: events, configurations: [{ occurredAtMs: 0, plan: "plus", terms: {} }] });
    // May's invoice holds June's seats in advance; June's holds July's (u2 was removed).
    expect(monthly("2024-05").lines.map((l) => [l.kind, l.usagePeriod, l.quantity, formatUsd(l.amountMicros)])).toEqual([["seats", "2024-06", 2n, "78.00"]]);
    expect(monthly("2024-06").lines.map((l) => [l.kind, l.usagePeriod, l.quantity, formatUsd(l.amountMicros)])).toEqual([["seats", "2024-07", 2n, "78.00"]]);
    // u3's proration is learned on its day: that day's seat invoice, 39 × 15/30.
    const charges = seatChargesOf(events, "2024-06");
    const held = new Set(["2024-06/u1", "2024-06/u2", "2024-05/u1", "2024-05/u2"]);
    const assigned = newSeatAssignments({ charges, held, frozenThrough: "2024-05", billingFrom: null, nowMs: at("2024-06-16T09:00:00Z"), delayMs: 3_600_000 });
    expect(assigned.map((a) => [a.day, a.charge.kind, a.charge.userId])).toEqual([["2024-06-16", "seat_proration", "u3"]]);
    const u3 = seatInvoiceOf({ orgId: "o", day: "2024-06-16", charges: assigned.map((a) => a.charge), configurations: [{ occurredAtMs: 0, plan: "plus", terms: {} }] });
    expect(u3.lines.map((l) => [l.kind, l.userId, formatUsd(l.amountMicros)])).toEqual([["seat_proration", "u3", "19.50"]]);
    // May's additions: a seat invoice of 20 May, 12 days of 31 each.
    const may = seatChargesOf(events, "2024-05").filter((c) => c.month === "2024-05");
    expect(seatInvoiceOf({ orgId: "o", day: "2024-05-20", charges: may, configurations: [{ occurredAtMs: 0, plan: "plus", terms: {} }] }).lines.map((l) => formatUsd(l.amountMicros))).toEqual(["15.096774", "15.096774"]);
  });

  test("10,400 base traces, 7 upgraded: $0.20 and $0.0315", () => {
    const lines = ratePeriod("2024-06", q({ baseTraces: 10_400n, extendedUpgrades: 7n }), plus);
    expect(lines.map((l) => [l.kind, l.quantity, l.freeQuantity, formatUsd(l.amountMicros)])).toEqual([
      ["base_traces", 10_400n, 10_000n, "0.20"],
      ["extended_upgrades", 7n, 0n, "0.0315"],
    ]);
  });

  test("June closed at 9,995 base traces; 20 late ones are a July adjustment of +20, $0.0075", () => {
    const booked = ratePeriod("2024-06", q({ baseTraces: 9_995n }), plus);
    expect(usd(booked)).toBe("0.00");
    const adj = adjustmentLines("2024-06", booked, ratePeriod("2024-06", q({ baseTraces: 10_015n }), plus));
    expect(adj).toEqual([{ kind: "adjustment", usagePeriod: "2024-06", adjusts: "base_traces", quantity: 20n, amountMicros: 7_500n }]);
    expect(formatUsd(adj[0]!.amountMicros)).toBe("0.0075");
  });

  test("two deployment-run events of one run and a resumed run: 2 runs, $0.01", () => {
    expect(ratePeriod("2024-06", q({ deploymentRuns: 2n }), plus).map((l) => [l.kind, l.quantity, formatUsd(l.amountMicros)])).toEqual([["deployment_runs", 2n, "0.01"]]);
  });
});

describe("SE2: proration rounded half up to the micro-dollar", () => {
  test("equals the exact quotient rounded half up (a rational reference)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.integer({ min: 1970 * 12, max: 2199 * 12 + 11 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (seat, month, share) => {
        const period = periodFromKey(`${String(Math.floor(month / 12)).padStart(4, "0")}-${String((month % 12) + 1).padStart(2, "0")}`);
        const t = period.startMs + Math.floor(share * (period.endMs - period.startMs));
        const numerator = seat * BigInt(period.endMs - t);
        const length = BigInt(period.endMs - period.startMs);
        const floor = numerator / length;
        const expected = 2n * (numerator % length) >= length ? floor + 1n : floor;
        expect(proratedMicros(seat, t, period)).toBe(expected);
        expect(proratedMicros(seat, period.startMs, period)).toBe(seat);
      }),
    );
  });
});

describe("SE1–SE3: seats against a naive reference", () => {
  // The reference replays each user's events on their own, in log order, with a status per day
  // of the period's start: present or not; then the additions inside the period.
  const reference = (events: SeatEvent[], period: ReturnType<typeof periodFromKey>) => {
    const users = [...new Set(events.map((e) => e.userId))].sort();
    const atStart: string[] = [];
    const prorated: { userId: string; atMs: number }[] = [];
    for (const u of users) {
      const mine = events.filter((e) => e.userId === u);
      const before = mine.filter((e) => e.occurredAtMs < period.startMs);
      const present = before.length > 0 && before[before.length - 1]!.type === "seat-added";
      if (present) atStart.push(u);
      else {
        const firstAdd = mine.find((e) => e.type === "seat-added" && e.occurredAtMs >= period.startMs && e.occurredAtMs < period.endMs);
        if (firstAdd) prorated.push({ userId: u, atMs: firstAdd.occurredAtMs });
      }
    }
    return { atStart, prorated };
  };
  const june = periodFromKey("2024-06");
  const event = fc.record({
    type: fc.constantFrom("seat-added" as const, "seat-removed" as const),
    userId: fc.constantFrom("u1", "u2", "u3", "u4"),
    occurredAtMs: fc.integer({ min: at("2024-05-01T00:00:00Z"), max: at("2024-07-31T00:00:00Z") }),
  });

  test("the same seats at the start, the same additions prorated, each user billed at most once", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), (events) => {
        const got = seatsOf(events, june, plus.seatMicros);
        const want = reference(events, june);
        expect(got.atStart).toEqual(want.atStart);
        expect(got.prorations.map((p) => ({ userId: p.userId, atMs: p.atMs })).sort((a, b) => a.userId.localeCompare(b.userId))).toEqual(want.prorated);
        const billed = [...got.atStart, ...got.prorations.map((p) => p.userId)];
        expect(new Set(billed).size).toBe(billed.length);
        // No refunds and no double billing: never more than a full seat per user.
        const amounts = [...got.atStart.map(() => plus.seatMicros), ...got.prorations.map((p) => p.amountMicros)];
        expect(totalMicros(amounts.map((amountMicros) => ({ amountMicros }))) <= plus.seatMicros * BigInt(billed.length)).toBe(true);
      }),
    );
  });
});

describe("rating and adjustments (§10.3, C4)", () => {
  test("free allotment, exact amounts and a total that is the sum of the lines", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.constantFrom("developer" as const, "plus" as const), (base, upgrades, runs, plan) => {
        const prices = pricesFor(DEFAULT_CATALOGUE, "2024-06", plan);
        const lines = ratePeriod("2024-06", q({ baseTraces: base, extendedUpgrades: upgrades, deploymentRuns: runs }), prices);
        const free = base < prices.freeBaseTraces ? base : prices.freeBaseTraces;
        const expected = (base - free) * prices.baseTraceMicros + upgrades * prices.upgradeMicros + runs * prices.deploymentRunMicros;
        expect(totalMicros(lines)).toBe(expected);
        for (const l of lines) expect(l.amountMicros).toBe((l.quantity - l.freeQuantity) * l.unitPriceMicros);
      }),
    );
  });

  test("adjustments over several closes add up to the period rated with everything, at its own prices", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 20_000n }), fc.array(fc.record({ base: fc.bigInt({ min: 0n, max: 3_000n }), upgrades: fc.bigInt({ min: 0n, max: 50n }) }), { maxLength: 5 }), (first, late) => {
        let booked = ratePeriod("2024-06", q({ baseTraces: first }), plus);
        const original = totalMicros(booked);
        let adjusted = 0n;
        let base = first;
        let upgrades = 0n;
        for (const l of late) {
          base += l.base;
          upgrades += l.upgrades;
          const now = ratePeriod("2024-06", q({ baseTraces: base, extendedUpgrades: upgrades }), plus);
          const adj = adjustmentLines("2024-06", booked, now);
          adjusted += totalMicros(adj);
          for (const a of adj) expect(a.quantity !== 0n || a.amountMicros !== 0n).toBe(true);
          booked = now;
        }
        expect(original + adjusted).toBe(totalMicros(ratePeriod("2024-06", q({ baseTraces: base, extendedUpgrades: upgrades }), plus)));
        // Late traces that still fit the allotment cost nothing.
        if (base <= plus.freeBaseTraces && upgrades === 0n) expect(adjusted).toBe(0n);
      }),
    );
  });
});

describe("the price catalogue (§10.1)", () => {
  const v2 = { version: 2, firstPeriod: "2025-01", plans: { developer: { ...DEFAULT_CATALOGUE[0]!.plans.developer }, plus: { ...DEFAULT_CATALOGUE[0]!.plans.plus, seatMicros: 45_000_000n } } };

  test("a version applies from its first period on; earlier periods keep their prices", () => {
    const catalogue = withCatalogueVersion(DEFAULT_CATALOGUE, v2, () => false);
    fc.assert(
      fc.property(fc.integer({ min: 2020, max: 2030 }), fc.integer({ min: 1, max: 12 }), (y, m) => {
        const period = `${y}-${String(m).padStart(2, "0")}`;
        expect(catalogueVersionFor(catalogue, period).version).toBe(period >= "2025-01" ? 2 : 1);
      }),
    );
    expect(pricesFor(catalogue, "2024-12", "plus").seatMicros).toBe(39_000_000n);
    expect(pricesFor(catalogue, "2025-01", "plus").seatMicros).toBe(45_000_000n);
  });

  test("a version for a closed period, out of order or misnumbered is refused", () => {
    expect(() => withCatalogueVersion(DEFAULT_CATALOGUE, v2, (p) => p <= "2025-01")).toThrow(/period 2025-01 is closed/);
    expect(() => withCatalogueVersion(DEFAULT_CATALOGUE, { ...v2, version: 3 }, () => false)).toThrow(/not the next version \(2\)/);
    const two = withCatalogueVersion(DEFAULT_CATALOGUE, v2, () => false);
    expect(() => withCatalogueVersion(two, { ...v2, version: 3, firstPeriod: "2024-11" }, () => false)).toThrow(CatalogueVersionError);
    expect(() => withCatalogueVersion(DEFAULT_CATALOGUE, { ...v2, firstPeriod: "2025-13" }, () => false)).toThrow(/not a period/);
  });

  test("contract terms price startup and enterprise; developer and plus pay the published prices", () => {
    const terms = { seatMicros: microsOfUsd("25.50"), freeBaseTraces: 50_000n };
    expect(pricesFor(DEFAULT_CATALOGUE, "2024-06", "enterprise", terms)).toEqual({ ...plus, seatMicros: 25_500_000n, freeBaseTraces: 50_000n });
    expect(pricesFor(DEFAULT_CATALOGUE, "2024-06", "startup")).toEqual(plus);
    expect(pricesFor(DEFAULT_CATALOGUE, "2024-06", "plus", terms)).toEqual(plus);
    expect(pricesFor(DEFAULT_CATALOGUE, "2024-06", "developer").freeBaseTraces).toBe(5_000n);
    expect(microsOfUsd("0.0005")).toBe(500n);
    expect(() => microsOfUsd("1.0000001")).toThrow(RangeError);
  });

  test("the configuration in effect at the end of a period: latest before its end, later in log order on a tie", () => {
    const june = periodFromKey("2024-06");
    const configs = [
      { plan: "developer", occurredAtMs: at("2024-06-10T00:00:00Z") },
      { plan: "enterprise", occurredAtMs: at("2024-06-20T00:00:00Z") },
      { plan: "plus", occurredAtMs: at("2024-06-20T00:00:00Z") },
      { plan: "startup", occurredAtMs: at("2024-05-01T00:00:00Z") },
      { plan: "developer", occurredAtMs: at("2024-07-01T00:00:00Z") },
    ];
    expect(inEffectAtEndOf(configs, june)?.plan).toBe("plus");
    expect(inEffectAtEndOf(configs, periodFromKey("2024-05"))?.plan).toBe("startup");
    expect(inEffectAtEndOf(configs, periodFromKey("2024-04"))).toBeUndefined();
  });

  // §10.1: a period is rated with the configuration known when it closed, on its final invoice
  // and on every later adjustment of it.
  test("a configuration that arrives after June closed does not rate June: the late June seat's proration is $0, not $0.333333; July's seat is $20", () => {
    const startup: OrgConfiguration = { plan: "startup", terms: { seatMicros: microsOfUsd("20") }, occurredAtMs: at("2024-06-01T00:00:00Z") };
    const events: BookedSeatEvent[] = [{ type: "seat-added", userId: "u", occurredAtMs: at("2024-06-30T12:00:00Z"), bookedPeriod: "2024-07" }];
    // Learned on 2 July, after June closed (and froze): both charges on that day's seat invoice.
    const assigned = newSeatAssignments({ charges: seatChargesOf(events, "2024-07"), held: new Set(), frozenThrough: "2024-06", billingFrom: null, nowMs: at("2024-07-02T10:00:00Z"), delayMs: 3_600_000 });
    expect(assigned.map((a) => [a.day, a.charge.month, a.charge.kind])).toEqual([
      ["2024-07-02", "2024-06", "seat_proration"],
      ["2024-07-02", "2024-07", "seats"],
    ]);
    const invoice = (configuration: OrgConfiguration) => seatInvoiceOf({ orgId: "o", day: "2024-07-02", charges: assigned.map((a) => a.charge), configurations: [configuration] });
    // Came after June's marker: June stays the Developer default's (seat $0); July is Startup's.
    expect(invoice({ ...startup, closedBefore: "2024-06" }).lines.map((l) => formatUsd(l.amountMicros))).toEqual(["0.00", "20.00"]);
    // Known before June closed: June's proration at Startup's seat price, half a day of thirty.
    expect(invoice({ ...startup, closedBefore: "2024-05" }).lines.map((l) => formatUsd(l.amountMicros))).toEqual(["0.333333", "20.00"]);
  });

  test("configurations that came after P's close never change P's prices, whatever else is known", () => {
    const plans = ["developer", "plus", "startup", "enterprise"] as const;
    const periods = ["2024-04", "2024-05", "2024-06", "2024-07"];
    const configuration = fc.record({
      plan: fc.constantFrom(...plans),
      terms: fc.record({ seatMicros: fc.bigInt({ min: 0n, max: 100_000_000n }), freeBaseTraces: fc.bigInt({ min: 0n, max: 100_000n }) }),
      occurredAtMs: fc.integer({ min: at("2024-03-15T00:00:00Z"), max: at("2024-08-15T00:00:00Z") }),
      closedBefore: fc.option(fc.constantFrom(...periods), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(configuration, { maxLength: 6 }), fc.array(configuration, { minLength: 1, maxLength: 4 }), fc.constantFrom(...periods), (known, extra, period) => {
        const late = extra.map((c) => ({ ...c, closedBefore: c.closedBefore !== undefined && c.closedBefore >= period ? c.closedBefore : period }));
        // Interleaved anywhere in log order, the late ones change nothing of P.
        const mixed = [...known, ...late].sort((a, b) => a.occurredAtMs - b.occurredAtMs);
        const byLogOrder = [...known, ...late];
        for (const log of [mixed, byLogOrder]) expect(pricesOfPeriod(log, period)).toEqual(pricesOfPeriod(known, period));
      }),
    );
  });

  // Payable amounts: the exact total stays; the amount due is the one rounding, half up to the cent.
  test("the amount due is the total less credits rounded half up to the cent: the nearest cent, the higher one on a tie", () => {
    expect([39_005_000n, 5_500n, 1_000n, 0n, 60_576_097n].map((t) => formatUsd(amountDueMicros(t)))).toEqual(["39.01", "0.01", "0.00", "0.00", "60.58"]);
    expect(formatUsd(amountDueMicros(60_576_097n, 10_000_000n))).toBe("50.58");
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 0n, max: 10n ** 15n }), (total, credits) => {
        const net = total - credits;
        const due = amountDueMicros(total, credits);
        const off = due - net;
        expect(due % 10_000n).toBe(0n);
        expect(off <= 5_000n && off >= -5_000n).toBe(true);
        if (net >= 0n && (off === 5_000n || off === -5_000n)) expect(off).toBe(5_000n);
        if (net < 0n && (off === 5_000n || off === -5_000n)) expect(off).toBe(-5_000n);
      }),
    );
  });
});
