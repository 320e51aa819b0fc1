import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  bookingPeriod,
  dayKeyOf,
  DEFAULT_CATALOGUE,
  invoiceOf,
  monthlyInvoiceIdOf,
  monthlySeatCharges,
  newSeatAssignments,
  periodFromKey,
  periodKeyOf,
  periodsBetween,
  proratedMicros,
  seatChargeKey,
  seatChargesOf,
  seatChargeMicros,
  seatInvoiceDueMs,
  seatInvoiceIdOf,
  seatInvoiceOf,
  type BookedSeatEvent,
  type OrgConfiguration,
} from "../src";

// SA1–SA2 against a naive reading: a Plus organization's seat events arrive over time (some
// late, after their month closed), months close after a random grace and freeze at once, the
// invoicer looks at every arrival and at every due time. Each (month, user) is held by exactly
// one invoice; every seat the final log charges is billed; nothing is billed twice for a month;
// a seat invoice holds its cause's day's charges when learned in time, else the day learned;
// what the invoices bill adds up to the charges they hold.
const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 3, 1);
const plus: OrgConfiguration = { occurredAtMs: 0, plan: "plus", terms: {} };
const seatMicros = DEFAULT_CATALOGUE[0]!.plans.plus.seatMicros;

const arrival = fc.record({
  added: fc.boolean(),
  user: fc.constantFrom("u1", "u2", "u3"),
  occurred: fc.integer({ min: 0, max: 110 * 24 }),
  lateBy: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 * 24 })),
});

type Holder = { invoiceId: string; kind: "seats" | "seat_proration"; atMs: number; learnedMs: number; causeDay: string };

function simulate(arrivals: readonly { added: boolean; user: string; occurred: number; lateBy: number }[], graceHours: number, delayMs: number) {
  const timeline = arrivals
    .map((a, i) => ({ i, type: a.added ? ("seat-added" as const) : ("seat-removed" as const), userId: a.user, occurredAtMs: T0 + a.occurred * HOUR, arrivesMs: T0 + (a.occurred + a.lateBy) * HOUR + i }))
    .sort((a, b) => a.arrivesMs - b.arrivesMs);
  const events: BookedSeatEvent[] = [];
  const held = new Map<string, Holder>();
  const issuedDays = new Map<string, number>();
  let closedThrough: string | null = null;
  let frozenThrough: string | null = null;
  const everyAssignment: string[] = [];
  // What the issued invoices bill for seats: monthly invoices' seat lines and seat invoices' totals.
  let billedMicros = 0n;
  const assign = (key: string, h: Holder) => {
    everyAssignment.push(key);
    if (!held.has(key)) held.set(key, h);
  };
  const pass = (nowMs: number) => {
    const charges = seatChargesOf(events, periodKeyOf(nowMs));
    for (const { charge, day } of newSeatAssignments({ charges, held: new Set(held.keys()), frozenThrough, billingFrom: null, nowMs, delayMs })) {
      assign(seatChargeKey(charge), { invoiceId: seatInvoiceIdOf("o", day), kind: charge.kind, atMs: charge.atMs, learnedMs: nowMs, causeDay: charge.causeDay });
    }
    for (const h of held.values()) {
      const day = h.invoiceId.slice(6, 16);
      if (h.invoiceId.startsWith("seats/") && !issuedDays.has(day) && nowMs >= seatInvoiceDueMs(day, delayMs)) {
        issuedDays.set(day, nowMs);
        const charges = [...held].filter(([, x]) => x.invoiceId === h.invoiceId).map(([key, x]) => ({ userId: key.slice(8), month: key.slice(0, 7), kind: x.kind, atMs: x.atMs }));
        billedMicros += seatInvoiceOf({ orgId: "o", day, charges, configurations: [plus] }).totalMicros;
      }
    }
  };
  const freeze = (period: string, nowMs: number) => {
    pass(nowMs);
    const input = { orgId: "o", period, status: "closed" as const, baseTraces: [], extendedUpgrades: [], deploymentRuns: [], seatEvents: events, configurations: [plus], seatHolders: new Map([...held].map(([k, h]) => [k, h.invoiceId])) };
    // SA1, read naively: every user whose last event known at P's close, before P+1's first
    // instant, is an addition, less those whose P+1 a seat invoice already holds (SA3: a July
    // proration learned before an earlier addition that arrived late, but before June closed).
    const advance = periodKeyOf(periodFromKey(period).endMs);
    const known = events.filter((e) => e.bookedPeriod <= period && e.occurredAtMs < periodFromKey(advance).startMs);
    const present = ["u1", "u2", "u3"].filter((u) => known.filter((e) => e.userId === u).at(-1)?.type === "seat-added");
    for (const u of present) {
      const before = held.get(`${advance}/${u}`);
      // Only a proration of P+1 can have been taken before P's invoice (a whole month of P+1 waits for it).
      if (before !== undefined) expect(before.kind).toBe("seat_proration");
    }
    expect(monthlySeatCharges(input).find((m) => m.month === advance)!.users).toEqual(present.filter((u) => !held.has(`${advance}/${u}`)));
    for (const { month, users } of monthlySeatCharges(input)) {
      for (const u of users) assign(seatChargeKey({ month, userId: u }), { invoiceId: monthlyInvoiceIdOf("o", period), kind: "seats", atMs: periodFromKey(month).startMs, learnedMs: nowMs, causeDay: "" });
    }
    // The monthly invoice's seat lines are what it holds.
    const own = [...held].filter(([, h]) => h.invoiceId === monthlyInvoiceIdOf("o", period));
    const lines = invoiceOf(input).lines.filter((l) => l.kind === "seats");
    expect(lines.reduce((t, l) => t + l.quantity, 0n)).toBe(BigInt(own.length));
    billedMicros += lines.reduce((t, l) => t + l.amountMicros, 0n);
    frozenThrough = period;
  };
  // Time moves through every arrival, close and due time, in order.
  const closes = periodsBetween("2024-04", "2024-10").map((p) => ({ at: periodFromKey(p).endMs + graceHours * HOUR, period: p }));
  const dues = Array.from({ length: 200 }, (_, d) => T0 + (d + 1) * DAY + delayMs);
  const instants = [...new Set([...timeline.map((a) => a.arrivesMs), ...closes.map((c) => c.at), ...dues])].sort((a, b) => a - b);
  let next = 0;
  for (const now of instants) {
    for (const c of closes) {
      if (c.at <= now && (closedThrough === null || c.period > closedThrough)) {
        closedThrough = c.period;
        freeze(c.period, now);
      }
    }
    while (next < timeline.length && timeline[next]!.arrivesMs <= now) {
      const a = timeline[next++]!;
      events.push({ type: a.type, userId: a.userId, occurredAtMs: a.occurredAtMs, bookedPeriod: bookingPeriod(periodKeyOf(a.occurredAtMs), closedThrough) });
    }
    pass(now);
  }
  return { events, held, issuedDays, everyAssignment, billedMicros };
}

/** SE1–SE3 read naively per user: the months a user is charged over the whole log. */
function naiveCharged(events: readonly BookedSeatEvent[], through: string): Set<string> {
  const out = new Set<string>();
  for (const month of periodsBetween("2024-04", through)) {
    const { startMs, endMs } = periodFromKey(month);
    for (const user of ["u1", "u2", "u3"]) {
      const mine = events.filter((e) => e.userId === user);
      const before = mine.filter((e) => e.occurredAtMs < startMs).at(-1);
      const addedDuring = mine.some((e) => e.type === "seat-added" && e.occurredAtMs >= startMs && e.occurredAtMs < endMs);
      if (before?.type === "seat-added" || addedDuring) out.add(`${month}/${user}`);
    }
  }
  return out;
}

describe("seats in advance and seat invoices (SA1, SA2; property)", () => {
  test("each seat charge on exactly one invoice, none billed twice for a month, every charged seat billed, seat invoices on the right day", () => {
    fc.assert(
      fc.property(fc.array(arrival, { maxLength: 12 }), fc.integer({ min: 0, max: 5 * 24 }), fc.constantFrom(0, HOUR, 6 * HOUR), (arrivals, graceHours, delayMs) => {
        const { events, held, issuedDays, billedMicros } = simulate(arrivals, graceHours, delayMs);
        // Totals conserved: the issued invoices bill exactly the charges they hold, each at its amount.
        const issuedHolders = [...held].filter(([, h]) => !h.invoiceId.startsWith("seats/") || issuedDays.has(h.invoiceId.slice(6, 16)));
        expect(billedMicros).toBe(issuedHolders.reduce((t, [key, h]) => t + seatChargeMicros({ kind: h.kind, month: key.slice(0, 7), atMs: h.atMs }, seatMicros), 0n));
        // Every seat the whole log charges, through the last frozen month's advance, is held.
        const charged = naiveCharged(events, "2024-09");
        for (const key of charged) expect(held.has(key), `${key} is billed`).toBe(true);
        for (const [key, h] of held) {
          // No month of a user is held twice (the map keeps one holder; the assignments agree below).
          expect(key.slice(0, 7) >= "2024-04").toBe(true);
          if (h.invoiceId.startsWith("seats/")) {
            const day = h.invoiceId.slice(6, 16);
            // Its cause's day when learned before that day's invoice was due, else the day learned.
            expect(day).toBe(h.learnedMs < seatInvoiceDueMs(h.causeDay, delayMs) ? h.causeDay : dayKeyOf(h.learnedMs));
            // Issued only once due.
            const issued = issuedDays.get(day);
            if (issued !== undefined) expect(issued).toBeGreaterThanOrEqual(seatInvoiceDueMs(day, delayMs));
          } else {
            // A monthly invoice of P holds P+1's seats in advance.
            const period = h.invoiceId.slice(8, 15);
            expect(key.slice(0, 7)).toBe(periodKeyOf(periodFromKey(period).endMs));
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  test("no assignment ever names a charge another invoice holds", () => {
    fc.assert(
      fc.property(fc.array(arrival, { maxLength: 12 }), fc.integer({ min: 0, max: 5 * 24 }), (arrivals, graceHours) => {
        const { everyAssignment } = simulate(arrivals, graceHours, HOUR);
        expect(new Set(everyAssignment).size).toBe(everyAssignment.length);
      }),
      { numRuns: 150 },
    );
  });

  test("a seat invoice bills each charge at its month's price: a whole month's seat, or SE2's proration; credits by month", () => {
    const june = periodFromKey("2024-06");
    const charges = [
      { userId: "u3", month: "2024-06", kind: "seat_proration" as const, atMs: Date.UTC(2024, 5, 16) },
      { userId: "u4", month: "2024-07", kind: "seats" as const, atMs: Date.UTC(2024, 6, 1) },
    ];
    const inv = seatInvoiceOf({
      orgId: "o",
      day: "2024-07-02",
      charges,
      configurations: [plus],
      credits: { grants: [{ grantId: "g", amountMicros: 25_000_000n, firstPeriod: "2024-07", lastPeriod: null, reason: "r", grantedAtMs: 0 }], voids: [], consumedMicros: new Map() },
    });
    expect(inv.lines.map((l) => [l.kind, l.usagePeriod, l.userId, l.amountMicros])).toEqual([
      ["seat_proration", "2024-06", "u3", proratedMicros(seatMicros, Date.UTC(2024, 5, 16), june)],
      ["seats", "2024-07", "u4", seatMicros],
    ]);
    expect(inv.lines[0]!.amountMicros).toBe(19_500_000n);
    expect(seatChargeMicros(charges[1]!, seatMicros)).toBe(39_000_000n);
    // The grant starts in July: June's proration pays in full, July's seat takes $25.
    expect(inv.credits).toEqual([{ grantId: "g", amountMicros: 25_000_000n }]);
    expect(inv.totalMicros).toBe(58_500_000n);
  });
});
