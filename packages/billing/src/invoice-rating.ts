import type { PlanPrices } from "./catalogue";

/**
 * Rating of spec §10.3: what a period's quantities cost at that period's prices. Quantities come
 * from the ledger's ClickHouse views; this module only prices them, exactly, in micro-dollars.
 */
export type RatedKind = "base_traces" | "extended_upgrades" | "seats" | "seat_proration" | "deployment_runs";

export interface RatedLine {
  kind: RatedKind;
  usagePeriod: string;
  quantity: bigint;
  freeQuantity: bigint;
  unitPriceMicros: bigint;
  amountMicros: bigint;
  /** On seat prorations (SE2). */
  userId?: string;
  atMs?: number;
}

/** A period's usage: seats are not usage; they are billed in advance and by seat invoices (SA1, SA2). */
export interface PeriodQuantities {
  baseTraces: bigint;
  extendedUpgrades: bigint;
  deploymentRuns: bigint;
}

/** The usage lines of one period, rated with its own prices and free allotment. Zero lines are left out. */
export function ratePeriod(period: string, q: PeriodQuantities, prices: PlanPrices): RatedLine[] {
  const lines: RatedLine[] = [];
  const line = (kind: RatedKind, quantity: bigint, unit: bigint, freeQuantity = 0n) => {
    if (quantity !== 0n) lines.push({ kind, usagePeriod: period, quantity, freeQuantity, unitPriceMicros: unit, amountMicros: (quantity - freeQuantity) * unit });
  };
  line("base_traces", q.baseTraces, prices.baseTraceMicros, q.baseTraces < prices.freeBaseTraces ? q.baseTraces : prices.freeBaseTraces);
  line("extended_upgrades", q.extendedUpgrades, prices.upgradeMicros);
  line("deployment_runs", q.deploymentRuns, prices.deploymentRunMicros);
  return lines;
}

export interface AdjustmentLine {
  kind: "adjustment";
  usagePeriod: string;
  adjusts: RatedKind;
  quantity: bigint;
  amountMicros: bigint;
}

/**
 * C4: for a closed period, per usage kind, (the period rated with everything booked for it up to
 * this invoice) − (rated with what earlier invoices booked). Seats have no adjustments: a seat
 * charge no invoice holds goes on a seat invoice (SA2). Both ratings use the period's own prices
 * and allotment, so late traces that still fit the allotment cost nothing. Kinds that did not
 * change get no line.
 */
export function adjustmentLines(usagePeriod: string, before: readonly RatedLine[], now: readonly RatedLine[]): AdjustmentLine[] {
  const kinds: RatedKind[] = ["base_traces", "extended_upgrades", "deployment_runs"];
  const sum = (lines: readonly RatedLine[], kind: RatedKind) =>
    lines.filter((l) => l.kind === kind).reduce((acc, l) => ({ quantity: acc.quantity + l.quantity, amount: acc.amount + l.amountMicros }), { quantity: 0n, amount: 0n });
  const out: AdjustmentLine[] = [];
  for (const kind of kinds) {
    const b = sum(before, kind);
    const n = sum(now, kind);
    if (b.quantity !== n.quantity || b.amount !== n.amount) {
      out.push({ kind: "adjustment", usagePeriod, adjusts: kind, quantity: n.quantity - b.quantity, amountMicros: n.amount - b.amount });
    }
  }
  return out;
}

export const totalMicros = (lines: readonly { amountMicros: bigint }[]) => lines.reduce((t, l) => t + l.amountMicros, 0n);
