import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  bookingPeriod,
  closedAfterMarker,
  DEFAULT_CATALOGUE,
  invoiceOf,
  nextPeriodKey,
  periodFromKey,
  periodKeyOf,
  periodsBetween,
  previousPeriodKey,
  type BookedCount,
  type Invoice,
  type InvoiceInput,
  type OrgConfiguration,
} from "../src";

// C1–C5 folded over random logs with random `period-closed` markers: the ledger's way (one
// "closed through" figure per position, bookings as each effect's earliest, quantities as
// ClickHouse counts them, then invoiceOf) against a naive reading of §10.

const PERIODS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"];
type Item =
  | { kind: "trace"; trace: string; atMs: number }
  | { kind: "upgrade"; trace: string; atMs: number }
  | { kind: "run"; run: string; atMs: number }
  | { kind: "seat"; type: "seat-added" | "seat-removed"; user: string; atMs: number }
  | { kind: "close"; period: string };

const instantIn = fc.tuple(fc.constantFrom(...PERIODS), fc.integer({ min: 0, max: 27 * 86_400_000 })).map(([p, offset]) => periodFromKey(p).startMs + offset);
const item: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ kind: fc.constant("trace" as const), trace: fc.constantFrom("t1", "t2", "t3", "t4", "t5", "t6"), atMs: instantIn }),
  fc.record({ kind: fc.constant("upgrade" as const), trace: fc.constantFrom("t1", "t2", "t3"), atMs: instantIn }),
  fc.record({ kind: fc.constant("run" as const), run: fc.constantFrom("r1", "r2", "r3"), atMs: instantIn }),
  fc.record({ kind: fc.constant("seat" as const), type: fc.constantFrom("seat-added" as const, "seat-removed" as const), user: fc.constantFrom("u1", "u2", "u3"), atMs: instantIn }),
  fc.record({ kind: fc.constant("close" as const), period: fc.constantFrom(...PERIODS.slice(0, 5)) }),
);
const configuration: fc.Arbitrary<OrgConfiguration> = fc.record({
  occurredAtMs: instantIn,
  plan: fc.constantFrom("developer" as const, "plus" as const, "enterprise" as const),
  terms: fc.record({ freeBaseTraces: fc.bigInt({ min: 0n, max: 3n }), seatMicros: fc.bigInt({ min: 0n, max: 40_000_000n }) }, { requiredKeys: [] }),
});
const log = fc.record({ items: fc.array(item, { maxLength: 40 }), configurations: fc.array(configuration, { maxLength: 3 }) });

// ---- the ledger's way -------------------------------------------------------------------
interface Booked {
  item: Exclude<Item, { kind: "close" }>;
  booked: string;
}
function ledgerBookings(items: readonly Item[]): Booked[] {
  let closed: string | null = null;
  const out: Booked[] = [];
  for (const it of items) {
    if (it.kind === "close") closed = closedAfterMarker(closed, it.period);
    else out.push({ item: it, booked: bookingPeriod(periodKeyOf(it.atMs), closed) });
  }
  return out;
}

/** What ClickHouse's queries compute: per key the earliest booking (first delivery for runs and seats). */
function ledgerInvoice(bookings: readonly Booked[], configurations: readonly OrgConfiguration[], B: string, status: "open" | "closed"): Invoice {
  const counts = (kind: "trace" | "upgrade"): BookedCount[] => {
    const first = new Map<string, string>();
    for (const { item, booked } of bookings) {
      if (item.kind !== kind) continue;
      const key = `${periodKeyOf(item.atMs)}/${item.trace}`;
      const prev = first.get(key);
      if (prev === undefined || booked < prev) first.set(key, booked);
    }
    return countsOf([...first].map(([key, booked]) => ({ usage: key.slice(0, 7), booked })), B);
  };
  const runs = new Map<string, { usage: string; booked: string }>();
  for (const { item, booked } of bookings) if (item.kind === "run" && !runs.has(item.run)) runs.set(item.run, { usage: periodKeyOf(item.atMs), booked });
  const input: InvoiceInput = {
    orgId: "o",
    period: B,
    status,
    baseTraces: counts("trace"),
    extendedUpgrades: counts("upgrade"),
    deploymentRuns: countsOf([...runs.values()], B),
    seatEvents: bookings.flatMap(({ item, booked }) => (item.kind === "seat" ? [{ type: item.type, userId: item.user, occurredAtMs: item.atMs, bookedPeriod: booked }] : [])),
    configurations,
  };
  return invoiceOf(input);
}
function countsOf(effects: readonly { usage: string; booked: string }[], B: string): BookedCount[] {
  const by = new Map<string, BookedCount>();
  for (const e of effects) {
    if (e.usage > B) continue;
    const c = by.get(e.usage) ?? { usagePeriod: e.usage, upTo: 0n, before: 0n };
    if (e.booked <= B) c.upTo++;
    if (e.booked < B) c.before++;
    by.set(e.usage, c);
  }
  return [...by.values()];
}

// ---- a naive reading of §10 -----------------------------------------------------------
type Line = { kind: string; usagePeriod: string; adjusts?: string; userId?: string; quantity: bigint; amount: bigint };

function referenceInvoice(items: readonly Item[], configurations: readonly OrgConfiguration[], B: string): Line[] {
  // C1: a set of closed periods; closing P closes every earlier one. C2/C4: an effect is booked
  // on its own period unless that is closed, else on the first period not closed after it.
  const closed = new Set<string>();
  const effects: { kind: string; key: string; usage: string; booked: string; seat?: Extract<Item, { kind: "seat" }> }[] = [];
  const seen = new Set<string>();
  for (const it of items) {
    if (it.kind === "close") {
      for (const p of periodsBetween("2023-01", it.period)) closed.add(p);
      continue;
    }
    const usage = new Date(it.atMs).toISOString().slice(0, 7);
    let booked = usage;
    while (closed.has(booked)) booked = nextPeriodKey(booked);
    // D1/DR1/U1: a trace's creation, a trace's upgrade and a run count once (their first booking).
    const key = it.kind === "trace" ? `t/${usage}/${it.trace}` : it.kind === "upgrade" ? `u/${usage}/${it.trace}` : it.kind === "run" ? `r/${it.run}` : `s/${effects.length}`;
    if (seen.has(key)) continue;
    seen.add(key);
    effects.push({ kind: it.kind, key, usage, booked, ...(it.kind === "seat" ? { seat: it } : {}) });
  }
  const prices = (p: string) => {
    // §10.1: the configuration with the latest occurred_at before end(P), the later one on a tie.
    const end = periodFromKey(p).endMs;
    let chosen: OrgConfiguration | undefined;
    configurations.forEach((c) => {
      if (c.occurredAtMs < end && (chosen === undefined || c.occurredAtMs >= chosen.occurredAtMs)) chosen = c;
    });
    const plan = chosen?.plan ?? "developer";
    const v = DEFAULT_CATALOGUE[0]!.plans;
    const base = plan === "developer" ? v.developer : v.plus;
    const terms = plan === "enterprise" ? chosen!.terms : {};
    return { ...base, freeBaseTraces: terms.freeBaseTraces ?? base.freeBaseTraces, seatMicros: terms.seatMicros ?? base.seatMicros };
  };
  const rate = (p: string, bookedOk: (b: string) => boolean): Line[] => {
    const pr = prices(p);
    const count = (kind: string) => BigInt(effects.filter((e) => e.kind === kind && e.usage === p && bookedOk(e.booked)).length);
    const lines: Line[] = [];
    const base = count("trace");
    const free = base < pr.freeBaseTraces ? base : pr.freeBaseTraces;
    if (base > 0n) lines.push({ kind: "base_traces", usagePeriod: p, quantity: base, amount: (base - free) * pr.baseTraceMicros });
    const up = count("upgrade");
    if (up > 0n) lines.push({ kind: "extended_upgrades", usagePeriod: p, quantity: up, amount: up * pr.upgradeMicros });
    const runs = count("run");
    if (runs > 0n) lines.push({ kind: "deployment_runs", usagePeriod: p, quantity: runs, amount: runs * pr.deploymentRunMicros });
    return lines;
  };
  const lines = rate(B, (b) => b <= B);
  // SA1: the seats of B+1 in advance: each user whose last seat event known at B's close (booked
  // on or before B), before B+1's first instant, is an addition, at B+1's seat price.
  const next = nextPeriodKey(B);
  const start = periodFromKey(next).startMs;
  const seatEvents = effects.filter((e) => e.seat && e.booked <= B && e.seat.atMs < start).map((e) => e.seat!);
  const present = BigInt(["u1", "u2", "u3"].filter((u) => seatEvents.filter((s) => s.user === u).at(-1)?.type === "seat-added").length);
  if (present > 0n) lines.push({ kind: "seats", usagePeriod: next, quantity: present, amount: present * prices(next).seatMicros });
  for (const p of periodsBetween("2023-12", previousPeriodKey(B))) {
    const before = rate(p, (b) => b < B);
    const now = rate(p, (b) => b <= B);
    for (const kind of ["base_traces", "extended_upgrades", "deployment_runs"]) {
      const sum = (ls: Line[]) => ls.filter((l) => l.kind === kind).reduce((a, l) => ({ q: a.q + l.quantity, m: a.m + l.amount }), { q: 0n, m: 0n });
      const b = sum(before);
      const n = sum(now);
      if (b.q !== n.q || b.m !== n.m) lines.push({ kind: "adjustment", usagePeriod: p, adjusts: kind, quantity: n.q - b.q, amount: n.m - b.m });
    }
  }
  return lines;
}

const comparable = (lines: readonly Line[]) =>
  lines.map((l) => `${l.kind}|${l.usagePeriod}|${l.adjusts ?? ""}|${l.userId ?? ""}|${l.quantity}|${l.amount}`).sort();
const ofInvoice = (inv: Invoice): Line[] =>
  inv.lines.map((l) => ({ kind: l.kind, usagePeriod: l.usagePeriod, ...(l.adjusts ? { adjusts: l.adjusts } : {}), ...(l.userId ? { userId: l.userId } : {}), quantity: l.quantity, amount: l.amountMicros }));

describe("invoices over random logs with random period-closed markers", () => {
  test("every period's invoice equals the naive reading of §10 (C1–C5, SA1, DR1)", () => {
    fc.assert(
      fc.property(log, ({ items, configurations }) => {
        const bookings = ledgerBookings(items);
        for (const B of PERIODS.concat("2024-07")) {
          expect(comparable(ofInvoice(ledgerInvoice(bookings, configurations, B, "open")))).toEqual(comparable(referenceInvoice(items, configurations, B)));
        }
      }),
      { numRuns: 400 },
    );
  });

  test("C3: a closed period's invoice, rated when it closed, never changes whatever arrives later", () => {
    fc.assert(
      fc.property(log, ({ items, configurations }) => {
        items.forEach((it, i) => {
          if (it.kind !== "close") return;
          const atClose = ledgerInvoice(ledgerBookings(items.slice(0, i + 1)), configurations, it.period, "closed");
          const atEnd = ledgerInvoice(ledgerBookings(items), configurations, it.period, "closed");
          expect(atEnd).toEqual(atClose);
        });
      }),
      { numRuns: 400 },
    );
  });
});
