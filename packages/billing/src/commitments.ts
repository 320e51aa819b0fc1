import type { CreditGrant } from "./credits";
import { periodFromKey, periodKeyOf } from "./period";
import { formatInstant } from "./instant";
import { formatUsd } from "./pricing";

/**
 * Enterprise commitments (spec §10.8, AC1–AC3): a year's committed spend, billed in advance by an
 * annual invoice at each term year's first instant and drawn down by the monthly invoices as a
 * credit. Pure: which term year is due, its grant, its documents and its burndown.
 */

/** `commitment_usd` and `term_start` of an enterprise `org-configured`. */
export interface CommitmentTerms {
  commitmentMicros: bigint;
  /** The first period of the first term year (YYYY-MM). */
  termStart: string;
}

/** What a term-year decision reads of a configuration (an `OrgConfiguration` has all of it). */
export interface CommitmentConfiguration {
  occurredAtMs: number;
  plan: string;
  commitment?: CommitmentTerms;
  /** The latest period closed before it in its partition: its grant is known where it is (AC2). */
  closedBefore?: string;
}

/** An annual invoice (AC1): one organization's commitment for one term year. */
export interface AnnualCommitment {
  orgId: string;
  /** The term year's first period; it covers twelve periods through `lastPeriod`. */
  termStart: string;
  lastPeriod: string;
  commitmentMicros: bigint;
  issuedAtMs: number;
  closedBefore?: string;
}

const monthIndex = (period: string) => Number(period.slice(0, 4)) * 12 + Number(period.slice(5, 7)) - 1;
const periodOfIndex = (i: number) => `${String(Math.floor(i / 12)).padStart(4, "0")}-${String((i % 12) + 1).padStart(2, "0")}`;

export const addMonths = (period: string, months: number): string => periodOfIndex(monthIndex(period) + months);
/** Periods from `from` to `to`, both counted (0 when `to` comes first). */
export const periodsFromTo = (from: string, to: string): number => Math.max(0, monthIndex(to) - monthIndex(from) + 1);

/** The first period of the term year that holds `period` (null: before the term starts). */
export function termYearOf(termStart: string, period: string): string | null {
  const months = monthIndex(period) - monthIndex(termStart);
  if (months < 0) return null;
  return addMonths(termStart, months - (months % 12));
}

/**
 * AC1: the annual invoices due at `nowMs` (the ledger's clock, or a replay's log time) that are
 * not issued yet. A term year Y is due once it has begun and a configuration known now is in
 * effect (§10.1's rule, by `occurred_at`) at some instant of Y up to now, on the enterprise plan
 * with a commitment whose term years include Y; the earliest such configuration in Y carries it.
 * So a contract entered late, dated back, bills the term years it held; a plan change ends the
 * renewals from the first term year it covers whole.
 */
export function commitmentsDue(orgId: string, configurationsInLogOrder: readonly CommitmentConfiguration[], nowMs: number, issued: ReadonlySet<string>): AnnualCommitment[] {
  // Each configuration is in effect from its occurred_at to the next one's (a tie: the later in log order).
  const ordered = configurationsInLogOrder.map((c, i) => ({ c, i })).sort((a, b) => a.c.occurredAtMs - b.c.occurredAtMs || a.i - b.i);
  const due = new Map<string, AnnualCommitment>();
  ordered.forEach(({ c }, k) => {
    if (c.plan !== "enterprise" || !c.commitment) return;
    const until = Math.min(ordered[k + 1]?.c.occurredAtMs ?? Number.POSITIVE_INFINITY, nowMs + 1);
    const from = Math.max(c.occurredAtMs, periodFromKey(c.commitment.termStart).startMs);
    if (from >= until) return;
    for (let y = termYearOf(c.commitment.termStart, periodKeyOf(from))!; periodFromKey(y).startMs < until; y = addMonths(y, 12)) {
      if (issued.has(y) || due.has(y)) continue;
      due.set(y, {
        orgId,
        termStart: y,
        lastPeriod: addMonths(y, 11),
        commitmentMicros: c.commitment.commitmentMicros,
        issuedAtMs: nowMs,
        ...(c.closedBefore !== undefined ? { closedBefore: c.closedBefore } : {}),
      });
    }
  });
  return [...due.values()].sort((a, b) => (a.termStart < b.termStart ? -1 : 1));
}

/** The grant's id: one per organization and term year, so a replay or a restart grants it once. */
export const commitmentGrantId = (orgId: string, termStart: string) => `commitment/${orgId}/${termStart}`;

/** AC1–AC2: the credit an annual invoice grants, for its twelve periods, known where its configuration is. */
export function commitmentGrant(a: AnnualCommitment): CreditGrant {
  return {
    grantId: commitmentGrantId(a.orgId, a.termStart),
    amountMicros: a.commitmentMicros,
    firstPeriod: a.termStart,
    lastPeriod: a.lastPeriod,
    reason: "commitment",
    grantedAtMs: a.issuedAtMs,
    ...(a.closedBefore !== undefined ? { closedBefore: a.closedBefore } : {}),
  };
}

/**
 * AC3: how a commitment burns down. `spentLast30DaysMicros` is what the organization's usage and
 * seats of the last 30 days cost; the commitment is projected to run out at that rate from the
 * start of the first period no final invoice has consumed it for.
 */
export interface BurndownInput {
  commitment: AnnualCommitment;
  consumedMicros: bigint;
  remainingMicros: bigint;
  currentPeriod: string;
  firstOpenPeriod: string;
  spentLast30DaysMicros: bigint;
}

export interface CommitmentBurndown {
  term_start: string;
  last_period: string;
  committed_usd: string;
  consumed_usd: string;
  remaining_usd: string;
  /** Periods of the term from the current one to its last, both counted. */
  months_left: number;
  /** The last 30 days' cost divided by 30, to the micro-dollar (display only; the projection is exact). */
  rate_usd_per_day: string;
  /** The period the remaining balance runs out in at that rate; null when it lasts the term (or nothing is spent). */
  runs_out: string | null;
  issued_at: string;
}

const DAY_MS = 86_400_000n;

export function burndownOf(b: BurndownInput): CommitmentBurndown {
  const c = b.commitment;
  const spent = b.spentLast30DaysMicros;
  let runsOut: string | null = null;
  if (spent > 0n) {
    // remaining / (spent / 30 days), in whole milliseconds from the first open period's start.
    const at = BigInt(periodFromKey(b.firstOpenPeriod).startMs) + (b.remainingMicros * 30n * DAY_MS) / spent;
    const period = periodKeyOf(Number(at));
    if (period <= c.lastPeriod) runsOut = period;
  }
  return {
    term_start: c.termStart,
    last_period: c.lastPeriod,
    committed_usd: formatUsd(c.commitmentMicros),
    consumed_usd: formatUsd(b.consumedMicros),
    remaining_usd: formatUsd(b.remainingMicros),
    months_left: periodsFromTo(b.currentPeriod < c.termStart ? c.termStart : b.currentPeriod, c.lastPeriod),
    rate_usd_per_day: formatUsd((spent + 15n) / 30n),
    runs_out: runsOut,
    issued_at: formatInstant(c.issuedAtMs),
  };
}
