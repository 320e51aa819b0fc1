import { KafkaUnavailableError } from "./errors";
import type { Admin } from "kafkajs";

export interface PartitionLag {
  groupId: string;
  topic: string;
  partition: number;
  committed: bigint;
  high: bigint;
  low: bigint;
  lag: bigint;
}

/**
 * kafkajs 2.2.4's fetchTopicOffsets throws a TypeError when a ListOffsets answer comes back
 * empty (seen on the test broker right after a leader moves); it passes on a second ask.
 */
export async function watermarksOf(admin: Admin, topic: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/** Lag of a group on topics: high watermark minus committed offset (low watermark when none). */
export async function consumerLag(admin: Admin, groupId: string, topics: string[]): Promise<PartitionLag[]> {
  const [committed, ...watermarks] = await Promise.all([
    admin.fetchOffsets({ groupId, topics }),
    ...topics.map((topic) => watermarksOf(admin, topic)),
  ]);
  const out: PartitionLag[] = [];
  topics.forEach((topic, i) => {
    const byPartition = new Map(
      (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]),
    );
    for (const w of watermarks[i]!) {
      const high = BigInt(w.high);
      const low = BigInt(w.low);
      const c = byPartition.get(w.partition) ?? -1n;
      const from = c < 0n ? low : c;
      out.push({ groupId, topic, partition: w.partition, committed: c, high, low, lag: high > from ? high - from : 0n });
    }
  });
  return out;
}

export interface LagWatch {
  groupId: string;
  topics: string[];
}

/**
 * Backpressure for bulk producers: waits while any watched consumer is more than `maxLag`
 * messages behind on any partition. On the test broker a partition keeps only its last 5 MB,
 * so a producer that ran further ahead would delete messages before they were read.
 */
/** How many polls old a lag figure may be and still be answered without waiting. */
const STALE_POLLS = 5;

export class LagGovernor {
  private last: { at: number; worst: bigint } | null = null;
  private inflight: Promise<bigint> | null = null;

  /**
   * `topicBounds` gives topics of large messages a lower bound of their own (the runs topic: a
   * message holds a trace's runs with their inputs and outputs, and the test broker's window is
   * bytes, not messages). Their lag is scaled to `maxLag`, so one figure says how full the
   * fullest partition is.
   */
  constructor(
    private readonly admin: Admin,
    private readonly watches: LagWatch[],
    private readonly maxLag: number,
    private readonly topicBounds: Readonly<Record<string, number>> = {},
    private readonly pollMs = 50,
  ) {}

  /**
   * The largest partition lag over all watches (scaled, for topics with their own bound),
   * refreshed at most every `pollMs`. A figure up to
   * `STALE_POLLS` polls old is answered at once while the refresh runs: every request waiting for
   * the round trip (50–150 ms on the test broker) cost more latency than the bound needs, which
   * still holds to within what arrives in that time. Older than that (or a refresh failing, e.g.
   * Kafka gone), callers wait for the answer and see its error.
   */
  async worstLag(): Promise<bigint> {
    const age = this.last ? Date.now() - this.last.at : Number.POSITIVE_INFINITY;
    if (age < this.pollMs) return this.last!.worst;
    const refresh = this.refresh();
    if (age < this.pollMs * STALE_POLLS) {
      refresh.catch(() => {}); // seen by the next caller, which finds the figure too old
      return this.last!.worst;
    }
    return refresh;
  }

  private refresh(): Promise<bigint> {
    return (this.inflight ??= (async () => {
      try {
        let lags: PartitionLag[];
        try {
          lags = (await Promise.all(this.watches.map((w) => consumerLag(this.admin, w.groupId, w.topics)))).flat();
        } catch (error) {
          throw new KafkaUnavailableError(`cannot read consumer lag: ${(error as Error).message}`, { cause: error });
        }
        const worst = lags.reduce((m, l) => {
          const bound = this.topicBounds[l.topic];
          const scaled = bound === undefined ? l.lag : (l.lag * BigInt(this.maxLag)) / BigInt(bound);
          return scaled > m ? scaled : m;
        }, 0n);
        this.last = { at: Date.now(), worst };
        return worst;
      } finally {
        this.inflight = null;
      }
    })());
  }

  /** Resolves once lag is within the bound, or rejects after `timeoutMs`. */
  async waitForRoom(timeoutMs = Number.POSITIVE_INFINITY, incoming = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const bound = BigInt(Math.max(0, this.maxLag - incoming));
    while ((await this.worstLag()) > bound) {
      if (Date.now() >= deadline) throw new LagTimeoutError(this.maxLag, timeoutMs);
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
}

export class LagTimeoutError extends Error {
  readonly retriable = true;
  constructor(maxLag: number, timeoutMs: number) {
    super(`consumers stayed more than ${maxLag} messages behind for ${timeoutMs} ms`);
    this.name = "LagTimeoutError";
  }
}

/**
 * Resolves once every watch has committed everything published so far, in the given order
 * (upgrader before sink: the upgrader's output is the sink's input).
 */
export async function waitForDrain(
  admin: Admin,
  watches: LagWatch[],
  options: { timeoutMs?: number; onProgress?: (remaining: bigint) => void; abort?: () => Error | null } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
  for (const watch of watches) {
    for (;;) {
      const failure = options.abort?.();
      if (failure) throw failure;
      const lags = await consumerLag(admin, watch.groupId, watch.topics);
      const remaining = lags.reduce((s, l) => s + l.lag, 0n);
      options.onProgress?.(remaining);
      if (remaining === 0n) break;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${watch.groupId}: ${remaining} messages not yet processed`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
