import { formatInstant } from "./instant";
import type { CommitmentBurndown } from "./commitments";
import { formatUsd } from "./pricing";

/**
 * Credits (spec §10.7, CR1–CR5): grants an organization's invoices draw down, after every charge
 * line, never below zero. Pure: the grants, voids and what final invoices already consumed come
 * from the ledger's store; the same inputs always give the same credit lines.
 */

export interface CreditGrant {
  grantId: string;
  amountMicros: bigint;
  firstPeriod: string;
  /** The last period it may apply to; null: no end. */
  lastPeriod: string | null;
  reason: string;
  grantedAtMs: number;
  /**
   * The latest period whose close marker came before the grant in its partition (none: it came
   * before every close). It is known to P's final invoice only if this is before P (CR1).
   */
  closedBefore?: string;
}

export interface CreditVoid {
  grantId: string;
  voidedAtMs: number;
  closedBefore?: string;
}

/** What one grant takes off one invoice (a positive amount; the invoice shows it negated). */
export interface CreditApplied {
  grantId: string;
  amountMicros: bigint;
}

/** CR1: known when the invoice of P is rated: a final invoice only what came before P's marker. */
export const knownFor = (e: { closedBefore?: string }, period: string, final: boolean): boolean =>
  !final || e.closedBefore === undefined || e.closedBefore < period;

/** CR3: the grant that ends first (no end last), then the earliest start, then grant_id. */
export function creditOrder(a: CreditGrant, b: CreditGrant): number {
  if (a.lastPeriod !== b.lastPeriod) {
    if (a.lastPeriod === null) return 1;
    if (b.lastPeriod === null) return -1;
    return a.lastPeriod < b.lastPeriod ? -1 : 1;
  }
  if (a.firstPeriod !== b.firstPeriod) return a.firstPeriod < b.firstPeriod ? -1 : 1;
  return a.grantId < b.grantId ? -1 : a.grantId > b.grantId ? 1 : 0;
}

/** A grant id's first grant in log order counts; a repeated grant_id teaches nothing new. */
export function firstGrants(grants: readonly CreditGrant[]): CreditGrant[] {
  const seen = new Set<string>();
  return grants.filter((g) => !seen.has(g.grantId) && seen.add(g.grantId));
}

export interface CreditRequest {
  period: string;
  /** A final invoice (the period closed) or a preview (as known now, CR1). */
  final: boolean;
  /** The invoice's total: every charge line, its own and adjustments (CR2). */
  totalMicros: bigint;
  grants: readonly CreditGrant[];
  voids: readonly CreditVoid[];
  /** Per grant, what final invoices issued before this one consumed (CR4, CR5). */
  consumedMicros: ReadonlyMap<string, bigint>;
}

/** CR1–CR3: the credit lines of one invoice, in the order the grants are used. */
export function applyCredits(r: CreditRequest): CreditApplied[] {
  const voided = new Set(r.voids.filter((v) => knownFor(v, r.period, r.final)).map((v) => v.grantId));
  const usable = firstGrants(r.grants)
    .filter((g) => knownFor(g, r.period, r.final) && !voided.has(g.grantId))
    .filter((g) => g.firstPeriod <= r.period && (g.lastPeriod === null || r.period <= g.lastPeriod))
    .sort(creditOrder);
  let left = r.totalMicros > 0n ? r.totalMicros : 0n;
  const out: CreditApplied[] = [];
  for (const g of usable) {
    if (left === 0n) break;
    const remaining = g.amountMicros - (r.consumedMicros.get(g.grantId) ?? 0n);
    if (remaining <= 0n) continue;
    const take = remaining < left ? remaining : left;
    out.push({ grantId: g.grantId, amountMicros: take });
    left -= take;
  }
  return out;
}

export interface CreditBalance {
  grant: CreditGrant;
  consumedMicros: bigint;
  /** What is still usable: nothing once voided. */
  remainingMicros: bigint;
  /** What a void took away: the balance left unused (CR5: granted = consumed + remaining + voided). */
  voidedMicros: bigint;
  voidedAtMs: number | null;
}

/** CR5: each grant's balance after the final invoices issued so far. */
export function creditBalances(grants: readonly CreditGrant[], voids: readonly CreditVoid[], consumedMicros: ReadonlyMap<string, bigint>): CreditBalance[] {
  const voidOf = new Map<string, CreditVoid>();
  for (const v of voids) if (!voidOf.has(v.grantId)) voidOf.set(v.grantId, v);
  return firstGrants(grants).map((grant) => {
    const consumed = consumedMicros.get(grant.grantId) ?? 0n;
    const unused = grant.amountMicros - consumed;
    const v = voidOf.get(grant.grantId);
    return { grant, consumedMicros: consumed, remainingMicros: v ? 0n : unused, voidedMicros: v ? unused : 0n, voidedAtMs: v?.voidedAtMs ?? null };
  });
}

/** Per grant, the sum of what the given final invoices' credit lines took off. */
export function consumedBy(invoices: readonly { credits: readonly CreditApplied[] }[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const inv of invoices) for (const c of inv.credits) out.set(c.grantId, (out.get(c.grantId) ?? 0n) + c.amountMicros);
  return out;
}

/** `GET /v1/credits/{org}` and `ledger credits list` (CR5): each grant's balance and the totals. */
export interface CreditsDocument {
  org_id: string;
  grants: {
    grant_id: string;
    amount_usd: string;
    first_period: string;
    last_period: string | null;
    reason: string;
    granted_at: string;
    consumed_usd: string;
    remaining_usd: string;
    voided_usd: string;
    voided_at: string | null;
  }[];
  /** Sums over the grants: granted = consumed + remaining + voided. */
  granted_usd: string;
  consumed_usd: string;
  remaining_usd: string;
  voided_usd: string;
  /** AC3: an Enterprise organization's current term year. */
  commitment?: CommitmentBurndown;
  annual_invoices?: { invoice_id: string; term_start: string; last_period: string; amount_usd: string; issued_at: string }[];
}

export function creditsDocument(orgId: string, balances: readonly CreditBalance[]): CreditsDocument {
  const format = { usd: formatUsd, instant: formatInstant };
  const sum = (f: (b: CreditBalance) => bigint) => format.usd(balances.reduce((t, b) => t + f(b), 0n));
  return {
    org_id: orgId,
    grants: [...balances]
      .sort((a, b) => creditOrder(a.grant, b.grant))
      .map((b) => ({
        grant_id: b.grant.grantId,
        amount_usd: format.usd(b.grant.amountMicros),
        first_period: b.grant.firstPeriod,
        last_period: b.grant.lastPeriod,
        reason: b.grant.reason,
        granted_at: format.instant(b.grant.grantedAtMs),
        consumed_usd: format.usd(b.consumedMicros),
        remaining_usd: format.usd(b.remainingMicros),
        voided_usd: format.usd(b.voidedMicros),
        voided_at: b.voidedAtMs === null ? null : format.instant(b.voidedAtMs),
      })),
    granted_usd: sum((b) => b.grant.amountMicros),
    consumed_usd: sum((b) => b.consumedMicros),
    remaining_usd: sum((b) => b.remainingMicros),
    voided_usd: sum((b) => b.voidedMicros),
  };
}
