import { KafkaUnavailableError } from "./errors";
import type { Admin } from "kafkajs";
import { partitionOfKey } from "./partitioner";

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
/**
 * A topic's lag bound in messages, from a byte budget and the size of the messages published to
 * it lately: the test broker's window is bytes (5 MB a partition), and the runs topic's messages
 * range from a kilobyte (a trace's three small runs) to megabytes (attachments). A bound fixed in
 * messages had to assume large ones and throttled ingest of small ones long before the window
 * was at risk. The size is a moving mean of batches, and a batch larger than it counts at once:
 * the bound falls as soon as large messages arrive, and rises slowly after them.
 */
export class ByteBudgetBound {
  private meanBytes: number;
  private lastBatchBytes: number;

  constructor(
    private readonly budgetBytes: number,
    /** The size assumed before anything was published. */
    assumedMessageBytes: number,
    private readonly maxMessages: number,
  ) {
    this.meanBytes = this.lastBatchBytes = assumedMessageBytes;
  }

  /** The sizes of one batch of messages as published (bytes of each value). */
  note(messageBytes: readonly number[]): void {
    if (messageBytes.length === 0) return;
    const batch = messageBytes.reduce((s, b) => s + b, 0) / messageBytes.length;
    this.lastBatchBytes = batch;
    this.meanBytes += (batch - this.meanBytes) * 0.1;
  }

  /** Messages a partition may lag before ingest waits: at least 10, at most `maxMessages`. */
  get messages(): number {
    const size = Math.max(1, this.meanBytes, this.lastBatchBytes);
    return Math.min(this.maxMessages, Math.max(10, Math.floor(this.budgetBytes / size)));
  }
}

/** The runs topic's bound: `budgetBytes` a partition, 10 KB a message assumed until runs are published. */
export const runLagBound = (budgetBytes: number, maxLag: number) => new ByteBudgetBound(budgetBytes, 10_000, maxLag);

/**
 * How many polls old a lag figure may be and still be answered without waiting (a second at the
 * default poll). What a replica admitted since a figure was read counts against the bound until a
 * newer figure includes it, so an older figure is only more cautious (consumers have read on
 * since); it is not a risk to the broker's window. A refresh is a dozen admin requests answered on
 * a busy event loop and can take several polls; requests must not all wait for it.
 */
const STALE_POLLS = 20;

/**
 * Messages about to be published to `topic`, by key: each lands on the partition the producer's
 * own partitioner gives its key, and counts there.
 */
export interface IncomingMessages {
  topic: string;
  keys: readonly string[];
}

/** What the last lag figure says, per partition: `topic:partition` → lag scaled to `maxLag`. */
interface LagFigure {
  at: number;
  lags: Map<string, number>;
  partitions: Map<string, number>;
  worst: bigint;
}

const tp = (topic: string, partition: number) => `${topic}:${partition}`;

export class LagGovernor {
  private last: LagFigure | null = null;
  /**
   * Messages admitted by waitForRoom that the last figure may not include yet (scaled like lags):
   * per partition where their keys were given, and on every partition where only a count was.
   */
  private admitted = new Map<string, number>();
  private admittedAnywhere = 0;
  private inflight: Promise<LagFigure> | null = null;

  /**
   * `topicBounds` gives topics of large messages a lower bound of their own, fixed or from a byte
   * budget (the runs topic: a message holds a trace's runs with their inputs and outputs, and the
   * test broker's window is bytes, not messages). Their lag is scaled to `maxLag`, so one figure
   * says how full the fullest partition is.
   */
  constructor(
    private readonly admin: Admin,
    private readonly watches: LagWatch[],
    private readonly maxLag: number,
    private readonly topicBounds: Readonly<Record<string, number | ByteBudgetBound>> = {},
    private readonly pollMs = 50,
  ) {}

  /** Tells a topic with a byte budget the sizes of messages just published to it. */
  noteMessages(topic: string, values: readonly (string | Buffer)[]): void {
    const bound = this.topicBounds[topic];
    if (bound instanceof ByteBudgetBound) bound.note(values.map((v) => (typeof v === "string" ? Buffer.byteLength(v) : v.length)));
  }

  /**
   * The largest partition lag over all watches (scaled, for topics with their own bound),
   * refreshed at most every `pollMs`. A figure up to
   * `STALE_POLLS` polls old is answered at once while the refresh runs: every request waiting for
   * the round trip costs more latency than the bound needs. Older than that (or a refresh failing, e.g. Kafka gone), callers wait for the
   * answer and see its error.
   */
  async worstLag(): Promise<bigint> {
    return (await this.figure()).worst;
  }

  private async figure(): Promise<LagFigure> {
    const age = this.last ? Date.now() - this.last.at : Number.POSITIVE_INFINITY;
    if (age < this.pollMs) return this.last!;
    const refresh = this.refresh();
    if (age < this.pollMs * STALE_POLLS) {
      refresh.catch(() => {}); // seen by the next caller, which finds the figure too old
      return this.last!;
    }
    return refresh;
  }

  /** A topic's own bound in messages, if it has one. */
  private boundOf(topic: string): number | undefined {
    const given = this.topicBounds[topic];
    return given instanceof ByteBudgetBound ? given.messages : given;
  }

  /** A message of `topic` weighs this much against `maxLag` (more for a topic with a lower bound). */
  private weight(topic: string): number {
    const bound = this.boundOf(topic);
    return bound === undefined ? 1 : this.maxLag / bound;
  }

  private refresh(): Promise<LagFigure> {
    return (this.inflight ??= (async () => {
      // What was admitted before this read began is published by the time it answers (a
      // request publishes right after its admission), so the new figure includes it.
      const admittedBefore = new Map(this.admitted);
      const anywhereBefore = this.admittedAnywhere;
      try {
        let lags: PartitionLag[];
        try {
          lags = (await Promise.all(this.watches.map((w) => consumerLag(this.admin, w.groupId, w.topics)))).flat();
        } catch (error) {
          throw new KafkaUnavailableError(`cannot read consumer lag: ${(error as Error).message}`, { cause: error });
        }
        const figure: LagFigure = { at: Date.now(), lags: new Map(), partitions: new Map(), worst: 0n };
        for (const l of lags) {
          const bound = this.boundOf(l.topic);
          const scaled = bound === undefined ? l.lag : (l.lag * BigInt(this.maxLag)) / BigInt(bound);
          if (scaled > figure.worst) figure.worst = scaled;
          const key = tp(l.topic, l.partition);
          // Several groups read a topic: the partition is as full as its slowest reader leaves it.
          figure.lags.set(key, Math.max(figure.lags.get(key) ?? 0, Number(scaled)));
          figure.partitions.set(l.topic, Math.max(figure.partitions.get(l.topic) ?? 0, l.partition + 1));
        }
        this.last = figure;
        for (const [key, n] of admittedBefore) {
          const left = (this.admitted.get(key) ?? 0) - n;
          if (left > 1e-9) this.admitted.set(key, left);
          else this.admitted.delete(key);
        }
        this.admittedAnywhere -= anywhereBefore;
        return figure;
      } finally {
        this.inflight = null;
      }
    })());
  }

  /** Where incoming messages land: scaled counts per partition, and those whose partition is not known. */
  private demandOf(figure: LagFigure, incoming: number | readonly IncomingMessages[]): { placed: Map<string, number>; anywhere: number } {
    if (typeof incoming === "number") return { placed: new Map(), anywhere: incoming };
    const placed = new Map<string, number>();
    let anywhere = 0;
    for (const { topic, keys } of incoming) {
      const weight = this.weight(topic);
      const count = figure.partitions.get(topic);
      if (count === undefined) {
        anywhere += keys.length * weight;
        continue;
      }
      // Where the producer's partitioner (LedgerPartitioner) will put each key.
      for (const key of keys) {
        const at = tp(topic, partitionOfKey(key, count));
        placed.set(at, (placed.get(at) ?? 0) + weight);
      }
    }
    return { placed, anywhere };
  }

  /**
   * Whether every partition stays within the bound with what was admitted and what comes now. A
   * demand larger than the bound by itself passes once its partitions are otherwise empty, as
   * anything must pass some time.
   */
  private fits(figure: LagFigure, demand: { placed: Map<string, number>; anywhere: number }): boolean {
    const room = this.maxLag - this.admittedAnywhere - demand.anywhere;
    for (const key of new Set([...figure.lags.keys(), ...this.admitted.keys(), ...demand.placed.keys()])) {
      const held = (figure.lags.get(key) ?? 0) + (this.admitted.get(key) ?? 0);
      if (held > Math.max(0, room - (demand.placed.get(key) ?? 0))) return false;
    }
    return true;
  }

  /**
   * Resolves once lag is within the bound, or rejects after `timeoutMs`. `incoming` messages are
   * about to be published: they count against the bound, and so do those admitted since the
   * figure was read. Without the second, concurrent requests of thousands of events each (the
   * SDK's feedback, late in a log) all passed on one figure and together ran past the test
   * broker's window (seen once: the consumers stopped on data loss). Given by key, they count on
   * the partitions they will land on; given as a count, on every partition (a request of 1,000
   * events spread over four partitions would otherwise weigh as if all were on the fullest one,
   * and eight such requests in flight held ingest back with the consumers far from the bound).
   */
  async waitForRoom(timeoutMs = Number.POSITIVE_INFINITY, incoming: number | readonly IncomingMessages[] = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const figure = await this.figure();
      const demand = this.demandOf(figure, incoming);
      if (this.fits(figure, demand)) {
        for (const [key, n] of demand.placed) this.admitted.set(key, (this.admitted.get(key) ?? 0) + n);
        this.admittedAnywhere += demand.anywhere;
        return;
      }
      if (Date.now() >= deadline) throw new LagTimeoutError(this.maxLag, timeoutMs);
      await new Promise((r) => setTimeout(r, Math.min(this.pollMs, Math.max(1, deadline - Date.now()))));
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
