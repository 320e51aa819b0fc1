import { Counter, Gauge, type Registry } from "prom-client";
import { planLimitsOf, type AccountDirectory } from "@ledger/accounts";
import { firstRefusal, limitChecks, type Clock, type DistinctCheck, type EventCharge, type LimitCheck, type LimitRefusal, type RateClass, type SeedQuery } from "@ledger/limits";
import { CounterStoreUnavailableError, type LimitCounters } from "@ledger/redis";
import type { Principal } from "../auth/authentication";

export interface AdmissionDeps {
  counters: LimitCounters;
  clock: Clock;
  accounts: () => AccountDirectory;
  /** The members a counter holds according to ClickHouse (the ledger's own metrics). */
  counterMembers: (seed: SeedQuery) => Promise<string[]>;
  registry: Registry;
  /** While Redis is away: how long this replica's own admissions are added to ClickHouse's counts. */
  fallbackWindowMs: number;
}

export type AdmissionResult = { admitted: true } | { admitted: false; refusal: LimitRefusal };

/**
 * Decides whether a request fits every limit of §6 and, if it does, counts it — before anything
 * is published. Normally one atomic Redis step shared by all replicas. When Redis is away the
 * request is admitted without rate limits (fail open) and usage limits are checked against
 * ClickHouse's counts plus this replica's own recent admissions; see the overshoot bound in docs/limits.md.
 */
export class Admission {
  private readonly refused: Counter<"limit">;
  private readonly failOpen: Counter;
  private readonly seeds: Counter;
  private readonly storeUp: Gauge;
  private readonly fallback = new Map<string, { members: Promise<Set<string>>; at: number }>();
  private readonly recent: { at: number; counter: string; members: string[] }[] = [];

  constructor(private readonly deps: AdmissionDeps) {
    this.refused = new Counter({ name: "ledger_limit_refusals_total", help: "Requests refused with 429, by the limit reported", labelNames: ["limit"], registers: [deps.registry] });
    this.failOpen = new Counter({
      name: "ledger_limits_fail_open_total",
      help: "Requests decided without Redis (rate limits not applied, usage limits from ClickHouse counts)",
      registers: [deps.registry],
    });
    this.seeds = new Counter({ name: "ledger_limit_counter_rebuilds_total", help: "Limit counters rebuilt from ClickHouse (Redis had none)", registers: [deps.registry] });
    this.storeUp = new Gauge({ name: "ledger_limits_redis_up", help: "1 while the last Redis call succeeded", registers: [deps.registry] });
    this.storeUp.set(1);
  }

  checksFor(principal: Principal, rateClass: RateClass, charges: readonly EventCharge[]): LimitCheck[] {
    const directory = this.deps.accounts();
    const nowMs = this.deps.clock.now();
    return limitChecks({
      nowMs,
      ...(principal.kind === "key" ? { rate: { keyId: principal.key.keyId, orgId: principal.key.orgId, class: rateClass } } : {}),
      charges,
      plan: (orgId) => planLimitsOf(directory.org(orgId), nowMs),
      workspace: (orgId, ws) => directory.workspace(orgId, ws),
    });
  }

  async admit(principal: Principal, rateClass: RateClass, charges: readonly EventCharge[]): Promise<AdmissionResult> {
    const checks = this.checksFor(principal, rateClass, charges);
    const result = await this.decide(checks);
    if (!result.admitted) this.refused.inc({ limit: result.refusal.limit });
    return result;
  }

  async decide(checks: readonly LimitCheck[]): Promise<AdmissionResult> {
    try {
      for (let attempt = 0; ; attempt++) {
        const now = this.deps.clock.now();
        const outcome = await this.deps.counters.admit(checks, now);
        this.storeUp.set(1);
        if (outcome.admitted !== "seed") return outcome.admitted ? { admitted: true } : { admitted: false, refusal: outcome.refusal };
        if (attempt >= 3) throw new Error("limit counters were rebuilt three times in a row and are still missing; is Redis evicting keys?");
        // Redis has no such counter (it started empty, or the window is new): rebuild it from the
        // ledger's own metrics, then decide again.
        for (const check of outcome.checks) {
          await this.deps.counters.seed(check, await this.deps.counterMembers(check.seed), now);
          this.seeds.inc();
        }
      }
    } catch (error) {
      if (!(error instanceof CounterStoreUnavailableError)) throw error;
      this.storeUp.set(0);
      this.failOpen.inc();
      return this.decideWithoutRedis(checks);
    }
  }

  /** Distinct counts from ClickHouse (re-read at most once a second) plus this replica's recent admissions. */
  private async decideWithoutRedis(checks: readonly LimitCheck[]): Promise<AdmissionResult> {
    const now = this.deps.clock.now();
    while (this.recent.length > 0 && this.recent[0]!.at < now - this.deps.fallbackWindowMs) this.recent.shift();
    const known = await Promise.all(checks.map((c) => (c.kind === "distinct" && c.value !== null ? this.knownMembers(c, now) : Promise.resolve(null))));
    const refusal = firstRefusal(checks, (i) => {
      const c = checks[i]!;
      const seen = known[i];
      if (c.kind !== "distinct" || !seen) return { current: 0, requested: 0, resetsAtMs: now };
      const fresh = new Set(c.members.filter((m) => !seen.has(m)));
      return { current: seen.size, requested: fresh.size, resetsAtMs: c.window.endMs };
    });
    if (refusal) return { admitted: false, refusal };
    for (const c of checks) if (c.kind === "distinct" && c.value !== null) this.recent.push({ at: now, counter: c.counter, members: c.members });
    return { admitted: true };
  }

  private async knownMembers(check: DistinctCheck, now: number): Promise<Set<string>> {
    let cached = this.fallback.get(check.counter);
    if (!cached || now - cached.at >= 1_000 || cached.at > now) {
      const members = this.deps.counterMembers(check.seed).then((m) => new Set(m));
      members.catch(() => this.fallback.delete(check.counter));
      cached = { members, at: now };
      this.fallback.set(check.counter, cached);
    }
    const union = new Set(await cached.members);
    for (const r of this.recent) if (r.counter === check.counter) for (const m of r.members) union.add(m);
    return union;
  }

  /** Current counts of checks without counting anything (rebuilding missing counters first). */
  async current(checks: readonly LimitCheck[]): Promise<{ current: number; resetsAtMs: number | null }[]> {
    const now = this.deps.clock.now();
    // Rate checks would count this look as a request: leave them out (and re-point sums).
    const newIndex: number[] = [];
    let n = 0;
    for (const c of checks) newIndex.push(c.kind === "rate" ? -1 : n++);
    const quiet = checks.flatMap((c): LimitCheck[] =>
      c.kind === "rate" ? [] : c.kind === "distinct" ? [{ ...c, members: [] }] : [{ ...c, weights: [], of: newIndex[c.of]! }],
    );
    await this.decide(quiet);
    return this.deps.counters.read(checks, now);
  }
}
