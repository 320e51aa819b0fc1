import { dayKeyOf } from "./daily-usage";
import { periodFromKey, periodKeyOf } from "./period";
import { nextPeriodKey, periodsBetween, previousPeriodKey } from "./period-close";
import { proratedMicros, seatsOf } from "./seats";
import type { BookedSeatEvent } from "./invoice";

/**
 * Seats in advance, prorations within a day (spec §10.5, SA1–SA3). A seat charge is one user's
 * seat for one month: the whole month's (present at its first instant, SE1) or a proration
 * (added during it, SE2). Each is held by exactly one invoice: the month before's monthly
 * invoice in advance, or a seat invoice of one day. Pure: which charges exist follows from the
 * seat events; which invoice holds one is decided once, by the invoicer, and stored.
 */

export interface SeatCharge {
  userId: string;
  /** The month the charge is for. */
  month: string;
  kind: "seats" | "seat_proration";
  /** A proration: the addition's instant; a month's seat: the month's first instant. */
  atMs: number;
  /** The UTC day of the addition that causes it. */
  causeDay: string;
  /** The cause's booking: the first period not closed when it was processed (C2). */
  causeBooked: string;
}

export const seatChargeKey = (c: { month: string; userId: string }) => `${c.month}/${c.userId}`;

/** A seat invoice's id (`seats/2024-06-16/acme`); a charge's holder is an invoice id. */
export const seatInvoiceIdOf = (org: string, day: string) => `seats/${day}/${org}`;
export const monthlyInvoiceIdOf = (org: string, period: string) => `monthly/${period}/${org}`;

/**
 * Every seat charge the events imply for the months from the first seat event's through
 * `throughMonth` (SE1–SE3, log order): a user present at a month's first instant is charged
 * the month, caused by its last addition before it; a user added during a month in which it
 * was not yet charged is charged a proration, caused by that addition.
 */
export function seatChargesOf(events: readonly BookedSeatEvent[], throughMonth: string): SeatCharge[] {
  if (events.length === 0) return [];
  const first = events.reduce((m, e) => (periodKeyOf(e.occurredAtMs) < m ? periodKeyOf(e.occurredAtMs) : m), periodKeyOf(events[0]!.occurredAtMs));
  const out: SeatCharge[] = [];
  for (const month of periodsBetween(first, throughMonth)) {
    const period = periodFromKey(month);
    const seats = seatsOf(events, period, 0n);
    const lastAddition = new Map<string, BookedSeatEvent>();
    for (const e of events) if (e.occurredAtMs < period.startMs) lastAddition.set(e.userId, e);
    for (const user of seats.atStart) {
      const cause = lastAddition.get(user)!;
      out.push({ userId: user, month, kind: "seats", atMs: period.startMs, causeDay: dayKeyOf(cause.occurredAtMs), causeBooked: cause.bookedPeriod });
    }
    for (const p of seats.prorations) {
      const cause = events.find((e) => e.type === "seat-added" && e.userId === p.userId && e.occurredAtMs === p.atMs)!;
      out.push({ userId: p.userId, month, kind: "seat_proration", atMs: p.atMs, causeDay: dayKeyOf(p.atMs), causeBooked: cause.bookedPeriod });
    }
  }
  return out;
}

/**
 * SA1: the users whose seat of `month` a monthly invoice holds: present at the month's first
 * instant as known at `knownThrough`'s close (their events booked on or before it), less those
 * another invoice holds. The invoice of P holds P+1's in advance; at the change to seats in
 * advance (SA3), the first invoice also holds its own month's, known at its close.
 */
export function monthSeatUsers(events: readonly BookedSeatEvent[], month: string, knownThrough: string, heldElsewhere: (key: string) => boolean): string[] {
  const start = periodFromKey(month).startMs;
  const last = new Map<string, BookedSeatEvent["type"]>();
  for (const e of events) if (e.bookedPeriod <= knownThrough && e.occurredAtMs < start) last.set(e.userId, e.type);
  return [...last]
    .filter(([user, type]) => type === "seat-added" && !heldElsewhere(seatChargeKey({ month, userId: user })))
    .map(([user]) => user)
    .sort();
}

export interface SeatAssignmentInput {
  charges: readonly SeatCharge[];
  /** Keys of the charges an invoice already holds. */
  held: ReadonlySet<string>;
  /** The latest period whose monthly invoices are final (null: none). */
  frozenThrough: string | null;
  /** SA3: the first period billed by these rules (null: every period). */
  billingFrom: string | null;
  nowMs: number;
  /** LEDGER_SEAT_INVOICE_DELAY: a day's seat invoice is due at its end plus this. */
  delayMs: number;
}

/** A seat invoice's due time: the end of its day plus the settle time. */
export const seatInvoiceDueMs = (day: string, delayMs: number) => Date.parse(`${day}T00:00:00Z`) + 86_400_000 + delayMs;

/**
 * SA2: the charges no invoice holds that go on a seat invoice now, each with its day: its
 * cause's day while that day's invoice is not yet due, else the day the ledger learns of it.
 * Left alone: charges of periods before SA3's first, and a month's seats known at the month
 * before's close while that month's invoice is not final (it holds them in advance).
 */
export function newSeatAssignments(input: SeatAssignmentInput): { charge: SeatCharge; day: string }[] {
  const out: { charge: SeatCharge; day: string }[] = [];
  for (const c of input.charges) {
    if (input.held.has(seatChargeKey(c))) continue;
    if (input.billingFrom !== null && c.month < input.billingFrom) continue;
    if (c.kind === "seats" && c.causeBooked <= previousPeriodKey(c.month)) {
      const before = previousPeriodKey(c.month);
      if (input.frozenThrough === null || input.frozenThrough < before) continue;
      // SA3: the first month billed by these rules holds its own month's seats in arrears.
      if (c.month === input.billingFrom) continue;
    }
    const day = input.nowMs < seatInvoiceDueMs(c.causeDay, input.delayMs) ? c.causeDay : dayKeyOf(input.nowMs);
    out.push({ charge: c, day });
  }
  return out;
}

/** A charge's amount at its month's seat price: the month whole, or SE2's proration. */
export function seatChargeMicros(c: Pick<SeatCharge, "kind" | "month" | "atMs">, seatMicros: bigint): bigint {
  return c.kind === "seats" ? seatMicros : proratedMicros(seatMicros, c.atMs, periodFromKey(c.month));
}

/** The period after P: whose seats P's invoice holds in advance. */
export const advanceMonthOf = (period: string) => nextPeriodKey(period);
