/** Kafka did not answer or did not acknowledge: the caller may retry later (HTTP 503). */
export class KafkaUnavailableError extends Error {
  readonly retriable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KafkaUnavailableError";
  }
}

/**
 * A consumer's next offset is below what the broker still keeps: messages were deleted unread.
 * Never retriable and never reset silently: billing would be short by those events.
 */
export class DataLossError extends Error {
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly expectedOffset: string,
    readonly lowWatermark: string,
    readonly groupId: string,
  ) {
    super(
      `data loss on ${topic}[${partition}] for group ${groupId}: the next offset to read is ${expectedOffset} ` +
        `but the broker keeps only offsets from ${lowWatermark}; the messages in between were deleted unread. ` +
        `The consumer stopped instead of skipping them.`,
    );
    this.name = "DataLossError";
  }
}

/**
 * The group took this member's partitions away (a rebalance began, or its generation or member
 * id is no longer the group's): Kafka's error codes 22, 25 and 27, which kafkajs reports as not
 * retriable. Whoever holds a partition next reads it from the group's last commit.
 */
export function isMembershipLost(error: unknown): boolean {
  // kafkajs wraps the broker's error (its `cause`) once it gave up retrying.
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 22 || e.code === 25 || e.code === 27) return true;
  }
  return false;
}

/**
 * The coordinator refused a group request as invalid (Kafka's code 42), which a member answers by
 * joining again from the group's commits. librdkafka's test cluster answers so to a follower's
 * SyncGroup that arrives after the leader's completed the generation; a broker would answer it.
 */
export function isGroupRequestRefused(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 42) return true;
  }
  return false;
}

/** kafkajs marks its own errors with `retriable`; anything else we assume is. */
export function isRetriable(error: unknown): boolean {
  return !(typeof error === "object" && error !== null && (error as { retriable?: unknown }).retriable === false);
}
