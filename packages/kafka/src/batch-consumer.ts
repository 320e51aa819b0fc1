import type { Admin, Batch, Consumer, Kafka, KafkaMessage } from "kafkajs";
import { DataLossError, isGroupRequestRefused, isMembershipLost, isRetriable } from "./errors";
import { watermarksOf } from "./lag";

/** What a handler sees of a batch: one partition's messages, in offset order, contiguous. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
}

export interface BatchConsumerOptions {
  kafka: Kafka;
  admin: Admin;
  groupId: string;
  topics: string[];
  /** Batches of different partitions handled at once; one partition's batches stay in order. */
  concurrency?: number;
  /**
   * Applies a batch's effects and resolves only once they are durable. The offset after the
   * batch is committed only then (D2): a crash before that re-delivers the batch.
   */
  handle: (batch: PartitionBatch) => Promise<void>;
  /** Called when the consumer stopped for good (data loss, or a non-retriable failure). */
  onFatal: (error: Error) => void;
  sessionTimeoutMs?: number;
  /** Called after every (re)join with the partitions now assigned to this member. */
  onAssignment?: (assignment: Record<string, number[]>) => void;
  /**
   * At most this many messages (and `maxMergeBytes`) are handled as one batch; fetching waits
   * while a partition holds twice either, unhandled (memory stays bounded with large messages).
   */
  maxMergeMessages?: number;
  maxMergeBytes?: number;
}

const sizeOf = (m: KafkaMessage) => (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64;

/**
 * One partition's fetched, not yet handled batches. Fetching goes on while a batch is handled,
 * and whatever arrived meanwhile is handled next as one batch: the slower the effects (a
 * ClickHouse insert, a produce), the larger the next batch, so their cost per message falls
 * as load rises. Without it every handled batch is one fetched record batch, which on the test
 * broker is one produce request: many small inserts when requests are small (LangSmith's SDK
 * sends at most 100 runs per request).
 */
class PartitionLane {
  private queue: { messages: KafkaMessage[]; bytes: number }[] = [];
  private queuedMessages = 0;
  private queuedBytes = 0;
  private waiting: (() => void)[] = [];
  private running: Promise<void> | null = null;
  /** The offset after the last batch handled and committed: where a retry starts. */
  committed: string | null = null;
  /**
   * After a retry moved fetching back to here: batches fetched before that move (starting
   * later) are ignored until the first one from here arrives.
   */
  resumeAt: bigint | null = null;
  /**
   * Set when a commit was refused because the group is rebalancing: the batches this member
   * fetched after the refused one are already dropped, so handling later ones would skip them.
   * Nothing more is handled (and the partition is paused) until the next join.
   */
  fenced = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly work: (lane: PartitionLane, messages: KafkaMessage[]) => Promise<void>,
    private readonly limits: { messages: number; bytes: number },
  ) {}

  /** Queues a fetched batch; resolves once the lane has room for more (backpressure on fetching). */
  async add(messages: KafkaMessage[]): Promise<void> {
    if (this.committed === null) this.committed = messages[0]!.offset;
    const bytes = messages.reduce((s, m) => s + sizeOf(m), 0);
    this.queue.push({ messages, bytes });
    this.queuedMessages += messages.length;
    this.queuedBytes += bytes;
    this.running ??= this.drain();
    while (this.queuedMessages >= 2 * this.limits.messages || this.queuedBytes >= 2 * this.limits.bytes) await new Promise<void>((r) => this.waiting.push(r));
  }

  /** Drops what is queued (a rebalance, a retry from the committed offset, a stop). */
  clear(): void {
    this.queue = [];
    this.queuedMessages = 0;
    this.queuedBytes = 0;
    this.release();
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private release(): void {
    for (const r of this.waiting.splice(0)) r();
  }

  private take(): KafkaMessage[] {
    const out: KafkaMessage[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (out.length > 0 && (out.length + next.messages.length > this.limits.messages || bytes + next.bytes > this.limits.bytes)) break;
      this.queue.shift();
      this.queuedMessages -= next.messages.length;
      this.queuedBytes -= next.bytes;
      bytes += next.bytes;
      for (const m of next.messages) out.push(m);
    }
    this.release();
    return out;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.work(this, this.take());
    } finally {
      this.running = null;
    }
  }
}

const MAX_REJOINS = 5;

/**
 * An at-least-once consumer loop: commit after effects, never past a failure, and stop loudly
 * when the broker deleted messages the group had not read yet (it would otherwise reset to the
 * earliest or latest offset without a word). One partition's batches are handled in order, one
 * at a time, while the next ones are fetched (see PartitionLane).
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  /** Next offset this member expects to fetch per "topic:partition". */
  private readonly expected = new Map<string, bigint>();
  private readonly lanes = new Map<string, PartitionLane>();
  /** Bumped at every (re)join: work of an earlier generation is not retried. */
  private generation = 0;
  private readonly failures = new Map<string, number>();
  private stopped = false;
  private aborted = false;
  /** Rejoins in a row after a refused group request; a successful join resets it. */
  private rejoins = 0;

  constructor(private readonly options: BatchConsumerOptions) {
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: true,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 3)),
      maxBytesPerPartition: 1_048_576,
      minBytes: 256 * 1024,
      maxWaitTimeInMs: 200,
      retry: {
        retries: 5,
        restartOnFailure: async (error) => {
          if (isRetriable(error)) return true;
          this.fail(error);
          return false;
        },
      },
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      // Fetching restarts from the group's commits: what is queued would be fetched again.
      this.generation++;
      this.rejoins = 0;
      this.expected.clear();
      const fenced: Record<string, number[]> = {};
      for (const lane of this.lanes.values()) {
        lane.clear();
        lane.committed = null;
        lane.resumeAt = null;
        if (lane.fenced) (fenced[lane.topic] ??= []).push(lane.partition);
        lane.fenced = false;
      }
      const paused = Object.entries(fenced).map(([topic, partitions]) => ({ topic, partitions }));
      if (paused.length > 0) this.consumer.resume(paused);
      this.options.onAssignment?.(event.payload.memberAssignment);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      if (event.payload.restart) return;
      if (isGroupRequestRefused(event.payload.error) && this.rejoins < MAX_REJOINS && !this.stopped) {
        this.rejoins++;
        // Work in flight belongs to the generation that ended: its outcome is not retried.
        this.generation++;
        for (const lane of this.lanes.values()) lane.clear();
        // kafkajs has left the group: joining again reads every partition from the group's commits.
        setTimeout(() => void this.run().catch((error: Error) => this.fail(error)), 250 * this.rejoins);
        return;
      }
      this.fail(event.payload.error);
    });
  }

  async start(): Promise<void> {
    await this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    await this.consumer.connect();
    for (const topic of this.options.topics) await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrency ?? 4,
      eachBatch: async ({ batch, isRunning, isStale, resolveOffset }) => {
        if (this.stopped || !isRunning() || isStale() || batch.messages.length === 0) return;
        const lane = this.laneOf(batch.topic, batch.partition);
        if (lane.fenced) return;
        if (lane.resumeAt !== null) {
          if (BigInt(batch.messages[0]!.offset) > lane.resumeAt) return; // fetched before the retry moved back
          lane.resumeAt = null;
        }
        await this.guardAgainstGap(batch);
        // Never a message twice in one member's lane, whatever a fetch overlaps.
        const expected = this.expected.get(`${batch.topic}:${batch.partition}`);
        const messages = expected === undefined ? batch.messages : batch.messages.filter((m) => BigInt(m.offset) >= expected);
        const last = batch.messages[batch.messages.length - 1]!.offset;
        // Advances this member's fetch position; the lane commits once the effects are durable.
        resolveOffset(last);
        this.expected.set(`${batch.topic}:${batch.partition}`, BigInt(last) + 1n);
        if (messages.length > 0) await lane.add(messages);
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const lane of this.lanes.values()) lane.clear();
    // The batch being handled finishes and commits; the queued ones are fetched again later.
    await Promise.all([...this.lanes.values()].map((lane) => lane.idle()));
    await this.consumer.disconnect();
  }

  /**
   * Stops as a crash would, but in-process: nothing more is committed (the batch being handled
   * may finish its effects, uncommitted), nothing is drained, and the member leaves the group so
   * that its partitions move now; whoever takes them reads from the last commit.
   */
  async abort(): Promise<void> {
    this.aborted = true;
    this.stopped = true;
    for (const lane of this.lanes.values()) lane.clear();
    await this.consumer.disconnect();
  }

  private laneOf(topic: string, partition: number): PartitionLane {
    const key = `${topic}:${partition}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = new PartitionLane(topic, partition, (l, messages) => this.work(l, messages), {
        messages: this.options.maxMergeMessages ?? 20_000,
        bytes: this.options.maxMergeBytes ?? 16 * 1024 * 1024,
      });
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /**
   * Handles and commits one merged batch. A retriable failure is retried from the last commit
   * (after a pause that doubles up to 5 s): the lane's queue is dropped and fetching moves back,
   * as a restart would. A non-retriable one stops the consumer.
   */
  private async work(lane: PartitionLane, messages: KafkaMessage[]): Promise<void> {
    if (this.stopped) return lane.clear();
    const generation = this.generation;
    const key = `${lane.topic}:${lane.partition}`;
    const next = (BigInt(messages[messages.length - 1]!.offset) + 1n).toString();
    try {
      await this.options.handle({ topic: lane.topic, partition: lane.partition, messages });
      if (this.aborted) return;
      await this.consumer.commitOffsets([{ topic: lane.topic, partition: lane.partition, offset: next }]);
      if (generation === this.generation) lane.committed = next;
      this.failures.delete(key);
    } catch (error) {
      // After a rebalance the partition is fetched again from the group's commit, by whoever
      // holds it now: nothing to retry here (the effects are idempotent either way).
      if (generation !== this.generation || this.stopped) return;
      // A commit refused because the group is rebalancing: the partition may go to another
      // instance, which reads it from the last commit (the effects are idempotent).
      if (isMembershipLost(error)) return this.fence(lane);
      if (!isRetriable(error)) return this.fail(error as Error);
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      if (generation !== this.generation || this.stopped) return;
      const from = lane.committed ?? messages[0]!.offset;
      lane.clear();
      lane.resumeAt = BigInt(from);
      this.expected.set(key, BigInt(from));
      this.consumer.seek({ topic: lane.topic, partition: lane.partition, offset: from });
    }
  }

  /**
   * After a commit refused by a rebalance: drop what is queued and handle nothing more of the
   * partition until the member has joined again (kafkajs learns of the rebalance only at its
   * next heartbeat and fetches on meanwhile). The next join reads the partition from its commit,
   * here or in another member.
   */
  private fence(lane: PartitionLane): void {
    lane.fenced = true;
    lane.clear();
    this.consumer.pause([{ topic: lane.topic, partitions: [lane.partition] }]);
  }

  private async guardAgainstGap(batch: Batch): Promise<void> {
    const key = `${batch.topic}:${batch.partition}`;
    let expected = this.expected.get(key);
    if (expected === undefined) {
      const committed = await this.options.admin.fetchOffsets({ groupId: this.options.groupId, topics: [batch.topic] });
      const offset = committed[0]?.partitions.find((p) => p.partition === batch.partition)?.offset ?? "-1";
      // No commit yet: the group starts at offset 0 and nothing may be missing before it.
      expected = BigInt(offset) < 0n ? 0n : BigInt(offset);
    }
    const first = BigInt(batch.messages[0]!.offset);
    if (first <= expected) return;
    const watermarks = await watermarksOf(this.options.admin, batch.topic);
    const low = BigInt(watermarks.find((w) => w.partition === batch.partition)?.low ?? "0");
    if (low > expected) {
      const error = new DataLossError(batch.topic, batch.partition, expected.toString(), low.toString(), this.options.groupId);
      // Reported here: kafkajs re-wraps what eachBatch throws and loses the class.
      this.fail(error);
      throw error;
    }
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.onFatal(error);
  }
}
