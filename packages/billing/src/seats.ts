import type { BillingPeriod } from "./period";

/** A seat event of one organization (spec §10.2), as the ledger knows it. */
export interface SeatEvent {
  type: "seat-added" | "seat-removed";
  userId: string;
  occurredAtMs: number;
}

export interface SeatProration {
  userId: string;
  atMs: number;
  amountMicros: bigint;
}

export interface PeriodSeats {
  /** SE1: users whose last seat event before the period's first instant is an addition. */
  atStart: string[];
  /** SE2: one per addition in the period of a user not yet billed in it, in log order. */
  prorations: SeatProration[];
}

/**
 * The seats of one organization for period P, from its seat events in log order (SE1–SE3).
 * No refunds (SE3): a removal only stops billing from the next period on, and a user already
 * billed in P (present at its start, or added earlier in it) is not billed again in P.
 */
export function seatsOf(events: readonly SeatEvent[], period: BillingPeriod, seatMicros: bigint): PeriodSeats {
  const lastBefore = new Map<string, SeatEvent["type"]>();
  for (const e of events) if (e.occurredAtMs < period.startMs) lastBefore.set(e.userId, e.type);
  const atStart = [...lastBefore].filter(([, type]) => type === "seat-added").map(([user]) => user).sort();
  const billed = new Set(atStart);
  const prorations: SeatProration[] = [];
  for (const e of events) {
    if (e.type !== "seat-added" || e.occurredAtMs < period.startMs || e.occurredAtMs >= period.endMs || billed.has(e.userId)) continue;
    billed.add(e.userId);
    prorations.push({ userId: e.userId, atMs: e.occurredAtMs, amountMicros: proratedMicros(seatMicros, e.occurredAtMs, period) });
  }
  return { atStart, prorations };
}

/**
 * SE2: seat price × (end(P) − t) / (end(P) − start(P)), in milliseconds, rounded half up to the
 * micro-dollar. Integer arithmetic only: the only rounding of the whole invoice is this one.
 */
export function proratedMicros(seatMicros: bigint, atMs: number, period: BillingPeriod): bigint {
  const remaining = BigInt(period.endMs - atMs);
  const length = BigInt(period.endMs - period.startMs);
  return (2n * seatMicros * remaining + length) / (2n * length);
}
