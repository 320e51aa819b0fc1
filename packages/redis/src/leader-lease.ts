import type { Redis } from "ioredis";
import { NotLeaderError, type Leadership } from "@ledger/batching";

// Takes the lease when nobody holds it, with the next fencing token of the role.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local term = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '/' .. term, 'PX', ARGV[2])
return term`;
// Extends the lease only while it is still this holder's term.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
// How long the lease has left when it is still this holder's term (-2: not this holder's).
const LEFT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PTTL', KEYS[1]) end
return -2`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface LeaderLeaseOptions {
  /** The role and the deployment it belongs to: `${topicPrefix}:invoicer`. */
  name: string;
  /** This instance, as logs name it (host and pid). */
  holder: string;
  ttlMs: number;
  log?: (line: string) => void;
  /** Called when this instance becomes leader or stops being one. */
  onChange?: (leads: boolean) => void;
}

/**
 * A Redis lease with a fencing token (the role's term, incremented at every acquisition): one
 * key `SET … NX PX ttl`, renewed every third of its life. A leader that misses renewals (a long
 * pause, a lost connection) stops leading when its own renewal fails, and `confirm()` before each
 * write also asks Redis, so a write is refused once the key names another term. A write already
 * under way when the lease moved can still land; the singletons' writes are idempotent (the same
 * rows whoever writes them), which is what makes that harmless.
 */
export class LeaderLease implements Leadership {
  private value: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private ticking: Promise<void> | null = null;
  term: bigint | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly options: LeaderLeaseOptions,
  ) {}

  private get key(): string {
    return `ledger:lease:${this.options.name}`;
  }

  leads(): boolean {
    return this.value !== null;
  }

  /** Tries at once (resolving after that), then every third of the lease: a follower takes over within one lease. */
  async start(): Promise<void> {
    this.running = true;
    // Commands fail at once until the client is connected (no offline queue): the first try waits for it.
    if (this.redis.status !== "ready") {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.redis.off("ready", done);
          resolve();
        };
        const timer = setTimeout(done, 5_000);
        this.redis.once("ready", done);
      });
    }
    const tick = (): Promise<void> =>
      (this.ticking = this.tick().finally(() => {
        this.ticking = null;
        if (this.running) this.timer = setTimeout(tick, Math.floor(this.options.ttlMs / 3));
      }));
    await tick();
  }

  private async tick(): Promise<void> {
    try {
      if (this.value === null) await this.acquire();
      else if ((await this.redis.eval(RENEW, 1, this.key, this.value, this.options.ttlMs)) !== 1) this.lose("its lease was taken or expired");
    } catch (error) {
      // Redis unreachable: the lease will expire before anyone else can be sure of it.
      if (this.value !== null) this.lose(`Redis did not answer (${(error as Error).message})`);
    }
  }

  private async acquire(): Promise<void> {
    const holder = `${this.options.holder}/${Math.random().toString(36).slice(2, 10)}`;
    const term = Number(await this.redis.eval(ACQUIRE, 2, this.key, `${this.key}:term`, holder, this.options.ttlMs));
    if (term === 0) return;
    this.value = `${holder}/${term}`;
    this.term = BigInt(term);
    this.options.log?.(`${this.options.name}: leader (term ${term})`);
    this.options.onChange?.(true);
  }

  private lose(why: string): void {
    this.value = null;
    this.options.log?.(`${this.options.name}: no longer leader: ${why}`);
    this.options.onChange?.(false);
  }

  async confirm(): Promise<void> {
    const value = this.value;
    if (value === null) throw new NotLeaderError(this.options.name);
    const left = Number(await this.redis.eval(LEFT, 1, this.key, value));
    // A lease about to run out may be gone before the write lands: wait for the next renewal.
    if (left < Math.floor(this.options.ttlMs / 3)) {
      if (left === -2 && this.value === value) this.lose("its lease was taken or expired");
      throw new NotLeaderError(this.options.name);
    }
  }

  /** Stops renewing and hands the lease over at once (a clean stop). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    const value = this.value;
    this.value = null;
    if (value !== null) await this.redis.eval(RELEASE, 1, this.key, value).catch(() => {});
  }

  /**
   * Stops renewing without releasing or forgetting: what a crash or a long pause leaves. The
   * lease runs out by itself; until a `confirm()` asks Redis, this instance still believes it leads.
   */
  stopRenewing(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
