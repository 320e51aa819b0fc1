import { isPeriodKey, type BillingPeriod } from "./period";
import { formatUsd } from "./pricing";

/**
 * The price catalogue of spec §10.1 as data. Money in integer micro-dollars. A version names
 * the first period it applies to and stays in force until a later version's first period; a
 * version whose first period is already closed is refused, so a closed invoice never changes.
 */
export type PlanName = "developer" | "plus" | "startup" | "enterprise";

export interface PlanPrices {
  baseTraceMicros: bigint;
  upgradeMicros: bigint;
  deploymentRunMicros: bigint;
  seatMicros: bigint;
  freeBaseTraces: bigint;
}

export interface CatalogueVersion {
  version: number;
  /** The first billing period (YYYY-MM) it applies to. */
  firstPeriod: string;
  /** Startup and enterprise without contract terms are priced as plus (§10.1). */
  plans: { developer: PlanPrices; plus: PlanPrices };
}

export type PriceCatalogue = readonly CatalogueVersion[];

/** An organization's contract terms from `org-configured` (exact micro-dollars), all optional. */
export interface ContractTerms {
  seatMicros?: bigint;
  freeBaseTraces?: bigint;
  baseTraceMicros?: bigint;
  upgradeMicros?: bigint;
  deploymentRunMicros?: bigint;
}

export const DEFAULT_CATALOGUE: PriceCatalogue = [
  {
    version: 1,
    firstPeriod: "1970-01",
    plans: {
      developer: { baseTraceMicros: 500n, upgradeMicros: 4_500n, deploymentRunMicros: 5_000n, seatMicros: 0n, freeBaseTraces: 5_000n },
      plus: { baseTraceMicros: 500n, upgradeMicros: 4_500n, deploymentRunMicros: 5_000n, seatMicros: 39_000_000n, freeBaseTraces: 10_000n },
    },
  },
];

/** A catalogue version the catalogue cannot take: `closed` when it would change a closed period (C3). */
export class CatalogueVersionError extends Error {
  readonly retriable = false;
  constructor(
    message: string,
    readonly reason: "closed" | "invalid" = "invalid",
  ) {
    super(message);
    this.name = "CatalogueVersionError";
  }
}

/**
 * The catalogue with `next` added. Refused when its first period is closed (it would change a
 * final invoice), when it is not after every existing version's first period (versions only
 * go forward), or when its number is not the next one.
 */
export function withCatalogueVersion(catalogue: PriceCatalogue, next: CatalogueVersion, isClosed: (period: string) => boolean): PriceCatalogue {
  if (!isPeriodKey(next.firstPeriod)) throw new CatalogueVersionError(`firstPeriod ${JSON.stringify(next.firstPeriod)} is not a period (YYYY-MM)`);
  if (isClosed(next.firstPeriod)) throw new CatalogueVersionError(`period ${next.firstPeriod} is closed: its invoices are final, so a catalogue version can start no earlier than the first open period`, "closed");
  const last = catalogue[catalogue.length - 1];
  if (last && next.firstPeriod <= last.firstPeriod) throw new CatalogueVersionError(`version ${next.version} starts at ${next.firstPeriod}, not after version ${last.version} (${last.firstPeriod})`);
  const expected = (last?.version ?? 0) + 1;
  if (next.version !== expected) throw new CatalogueVersionError(`version ${next.version} is not the next version (${expected})`);
  for (const plan of ["developer", "plus"] as const) {
    for (const [field, value] of Object.entries(next.plans[plan])) {
      if (value < 0n) throw new CatalogueVersionError(`plans.${plan}.${field} must not be negative`);
    }
  }
  return [...catalogue, next];
}

/** The version in force for a period: the last whose first period is not after it. */
export function catalogueVersionFor(catalogue: PriceCatalogue, period: string): CatalogueVersion {
  let found: CatalogueVersion | undefined;
  for (const v of catalogue) if (v.firstPeriod <= period) found = v;
  if (!found) throw new CatalogueVersionError(`no catalogue version applies to ${period}`);
  return found;
}

/**
 * The prices an organization pays for a period: the catalogue's for its plan, with contract
 * terms on startup and enterprise (§10.1: "per contract, else as Plus"). Developer and plus pay
 * the published prices whatever terms their configuration carries.
 */
export function pricesFor(catalogue: PriceCatalogue, period: string, plan: PlanName, terms: ContractTerms = {}): PlanPrices {
  const v = catalogueVersionFor(catalogue, period);
  if (plan === "developer") return v.plans.developer;
  if (plan === "plus") return v.plans.plus;
  const p = v.plans.plus;
  return {
    baseTraceMicros: terms.baseTraceMicros ?? p.baseTraceMicros,
    upgradeMicros: terms.upgradeMicros ?? p.upgradeMicros,
    deploymentRunMicros: terms.deploymentRunMicros ?? p.deploymentRunMicros,
    seatMicros: terms.seatMicros ?? p.seatMicros,
    freeBaseTraces: terms.freeBaseTraces ?? p.freeBaseTraces,
  };
}

/** "39.00" → 39_000_000n: the decimal strings of `org-configured` (at most 6 decimals). */
export function microsOfUsd(text: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) throw new RangeError(`not a decimal amount of dollars with at most 6 decimals: ${JSON.stringify(text)}`);
  return BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? "").padEnd(6, "0"));
}

/**
 * The configuration in effect at the end of P (§10.1): of the events in log order, the one with
 * the latest `occurred_at` before end(P), the later in log order on a tie.
 */
export function inEffectAtEndOf<T extends { occurredAtMs: number }>(eventsInLogOrder: readonly T[], period: BillingPeriod): T | undefined {
  let found: T | undefined;
  for (const e of eventsInLogOrder) if (e.occurredAtMs < period.endMs && (!found || e.occurredAtMs >= found.occurredAtMs)) found = e;
  return found;
}

/** Prices of a plan in the API's words (decimal strings of dollars). */
export interface PlanPricesJson {
  base_trace_usd: string;
  upgrade_usd: string;
  deployment_run_usd: string;
  seat_usd: string;
  free_base_traces: number;
}

export function planPricesOf(p: PlanPricesJson): PlanPrices {
  return {
    baseTraceMicros: microsOfUsd(p.base_trace_usd),
    upgradeMicros: microsOfUsd(p.upgrade_usd),
    deploymentRunMicros: microsOfUsd(p.deployment_run_usd),
    seatMicros: microsOfUsd(p.seat_usd),
    freeBaseTraces: BigInt(p.free_base_traces),
  };
}

export function planPricesJson(p: PlanPrices): PlanPricesJson {
  return {
    base_trace_usd: formatUsd(p.baseTraceMicros),
    upgrade_usd: formatUsd(p.upgradeMicros),
    deployment_run_usd: formatUsd(p.deploymentRunMicros),
    seat_usd: formatUsd(p.seatMicros),
    free_base_traces: Number(p.freeBaseTraces),
  };
}

export interface CatalogueVersionJson {
  version: number;
  first_period: string;
  plans: { developer: PlanPricesJson; plus: PlanPricesJson };
}

export const catalogueVersionJson = (v: CatalogueVersion): CatalogueVersionJson => ({
  version: v.version,
  first_period: v.firstPeriod,
  plans: { developer: planPricesJson(v.plans.developer), plus: planPricesJson(v.plans.plus) },
});

export const catalogueVersionOf = (j: CatalogueVersionJson): CatalogueVersion => ({
  version: j.version,
  firstPeriod: j.first_period,
  plans: { developer: planPricesOf(j.plans.developer), plus: planPricesOf(j.plans.plus) },
});
