import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import type { DistinctCheck, LimitCheck, LimitRefusal } from "@ledger/limits";

const ADMIT_LUA = readFileSync(new URL("./admit.lua", import.meta.url), "utf8");

export type Admission = { admitted: true } | { admitted: false; refusal: LimitRefusal } | { admitted: "seed"; checks: DistinctCheck[] };

/** Redis did not answer: the caller fails open (docs/limits.md, "When Redis is unreachable"). */
export class CounterStoreUnavailableError extends Error {
  readonly retriable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CounterStoreUnavailableError";
  }
}

type AdmitCommand = (numKeys: number, ...args: (string | number)[]) => Promise<(string | number)[]>;

/**
 * The limit counters of every ingest replica, in one Redis. Each request's checks run as one
 * Lua script (check all, then count in all), so replicas never double an allowance and a
 * refused request counts toward nothing. Keys are named `<prefix>:<counter>`; windows are
 * decided by the ledger's clock (passed in), TTLs only free the memory.
 */
export class LimitCounters {
  private readonly admitCommand: AdmitCommand;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    if (!(redis as unknown as Record<string, unknown>).ledgerAdmit) redis.defineCommand("ledgerAdmit", { lua: ADMIT_LUA });
    this.admitCommand = (redis as unknown as { ledgerAdmit: AdmitCommand }).ledgerAdmit.bind(redis);
  }

  private key(counter: string): string {
    return `${this.prefix}:${counter}`;
  }

  async admit(checks: readonly LimitCheck[], nowMs: number): Promise<Admission> {
    if (checks.length === 0) return { admitted: true };
    const keys: string[] = [];
    const args: (string | number)[] = [nowMs, checks.length];
    for (const c of checks) {
      const limit = c.value ?? -1;
      if (c.kind === "rate") {
        keys.push(this.key(c.counter));
        args.push("r", limit, 2 * c.windowMs, c.windowMs);
      } else if (c.kind === "distinct") {
        keys.push(this.key(c.counter), this.key(c.previous), this.key(`seeded:${c.counter}`));
        args.push("d", limit, ttlOf(c.window, nowMs), c.window.endMs, c.members.length, ...c.members);
      } else {
        keys.push(this.key(c.counter));
        args.push("s", limit, ttlOf(c.window, nowMs), c.window.endMs, c.of + 1, c.weights.length, ...c.weights);
      }
    }
    let reply: (string | number)[];
    try {
      reply = await this.admitCommand(keys.length, ...keys, ...args);
    } catch (error) {
      throw new CounterStoreUnavailableError(`Redis did not answer: ${(error as Error).message}`, { cause: error });
    }
    if (reply[0] === "ok") return { admitted: true };
    if (reply[0] === "seed") return { admitted: "seed", checks: reply.slice(1).map((i) => checks[Number(i) - 1] as DistinctCheck) };
    const [, i, current, requested, resets] = reply.map(Number) as number[];
    const check = checks[i! - 1]!;
    return {
      admitted: false,
      refusal: { limit: check.limit, scope: check.scope, limitValue: check.value!, current: current!, requested: requested!, resetsAtMs: resets! },
    };
  }

  /**
   * Rebuilds a counter from what ClickHouse has seen (a union with what replicas admitted since
   * Redis started, so a seed racing with admissions or another replica's seed counts nothing twice).
   */
  async seed(check: DistinctCheck, members: readonly string[], nowMs: number): Promise<void> {
    const key = this.key(check.counter);
    const ttl = ttlOf(check.window, nowMs);
    try {
      const multi = this.redis.multi();
      for (let i = 0; i < members.length; i += 4_000) multi.sadd(key, ...members.slice(i, i + 4_000));
      multi.pexpire(key, ttl);
      multi.set(this.key(`seeded:${check.counter}`), "1", "PX", check.rebuildEveryMs === null ? ttl : Math.min(ttl, check.rebuildEveryMs));
      await multi.exec();
    } catch (error) {
      throw new CounterStoreUnavailableError(`Redis did not answer: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Current values, for `ledger limits`: distinct counts and sums; rate windows with their start. */
  async read(checks: readonly LimitCheck[], nowMs: number): Promise<{ current: number; resetsAtMs: number | null }[]> {
    const out: { current: number; resetsAtMs: number | null }[] = [];
    for (const c of checks) {
      const key = this.key(c.counter);
      if (c.kind === "distinct") out.push({ current: await this.redis.scard(key), resetsAtMs: c.window.endMs });
      else if (c.kind === "sum") out.push({ current: Number((await this.redis.get(key)) ?? 0), resetsAtMs: c.window.endMs });
      else {
        const [start, count] = await this.redis.hmget(key, "s", "c");
        const open = start !== null && nowMs >= Number(start) && nowMs < Number(start) + c.windowMs;
        out.push({ current: open ? Number(count) : 0, resetsAtMs: open ? Number(start) + c.windowMs : null });
      }
    }
    return out;
  }
}

/** Keep a window one window past its end, so retries across the boundary are still recognised. */
function ttlOf(window: { startMs: number; endMs: number }, nowMs: number): number {
  return Math.max(1_000, window.endMs - nowMs + (window.endMs - window.startMs));
}
