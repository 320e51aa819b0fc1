import type { Admin, Batch, Consumer, Kafka } from "kafkajs";
import { DataLossError, isRetriable } from "./errors";
import { watermarksOf } from "./lag";

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
  handle: (batch: Batch) => Promise<void>;
  /** Called when the consumer stopped for good (data loss, or a non-retriable failure). */
  onFatal: (error: Error) => void;
  sessionTimeoutMs?: number;
  /** Called after every (re)join with the partitions now assigned to this member. */
  onAssignment?: (assignment: Record<string, number[]>) => void;
}

/**
 * An at-least-once consumer loop: commit after effects, never past a failure, and stop loudly
 * when the broker deleted messages the group had not read yet (it would otherwise reset to the
 * earliest or latest offset without a word).
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  /** Next offset this member expects per "topic:partition", from the group's commits. */
  private readonly expected = new Map<string, bigint>();
  private stopped = false;

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
      this.expected.clear();
      this.options.onAssignment?.(event.payload.memberAssignment);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      if (!event.payload.restart) this.fail(event.payload.error);
    });
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    for (const topic of this.options.topics) await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrency ?? 4,
      eachBatch: async ({ batch, isRunning, isStale, resolveOffset }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        await this.guardAgainstGap(batch);
        await this.options.handle(batch);
        const last = batch.messages[batch.messages.length - 1]!.offset;
        const next = BigInt(last) + 1n;
        // Advances this member's fetch position; the commit makes it the group's.
        resolveOffset(last);
        await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }]);
        this.expected.set(`${batch.topic}:${batch.partition}`, next);
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumer.disconnect();
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
