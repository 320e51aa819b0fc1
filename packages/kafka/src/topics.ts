import type { Admin } from "kafkajs";

/** The ledger's topics, all named from one prefix so a test or replay can use its own set. */
export interface LedgerTopics {
  /** Accepted input events, keyed by (org_id, trace_id). */
  events: string;
  /** retention-upgrade events written by the upgrader. */
  upgrades: string;
  /** Triggers the upgrader refused (U4), with the reason. */
  rejections: string;
  /** Messages a consumer could not read, with reason, step and time. */
  deadLetters: string;
}

export function ledgerTopics(prefix: string): LedgerTopics {
  return {
    events: `${prefix}.trace-events`,
    upgrades: `${prefix}.retention-upgrades`,
    rejections: `${prefix}.trigger-rejections`,
    deadLetters: `${prefix}.dead-letters`,
  };
}

/** The consumer groups of a ledger deployment, named from the same prefix as its topics. */
export function ledgerGroups(prefix: string): { upgrader: string; sink: string } {
  return { upgrader: `${prefix}.upgrader`, sink: `${prefix}.sink` };
}

/** Who must have caught up for the views to reflect everything: the upgrader, then the sink. */
export function ledgerWatches(t: LedgerTopics, groups: { upgrader: string; sink: string }) {
  return [
    { groupId: groups.upgrader, topics: [t.events] },
    { groupId: groups.sink, topics: [t.events, t.upgrades, t.rejections] },
  ];
}

export function allTopics(t: LedgerTopics): string[] {
  return [t.events, t.upgrades, t.rejections, t.deadLetters];
}

/**
 * Creates the topics with the configured partitions where the broker allows it. The test
 * broker refuses CreateTopics (it names no controller), so there the topics are created by
 * auto-creation on a metadata request, with the broker's default of 4 partitions.
 */
export async function ensureTopics(
  admin: Admin,
  topics: string[],
  options: { partitions: number; replicationFactor: number },
): Promise<"created" | "auto-created"> {
  try {
    await admin.createTopics({
      waitForLeaders: true,
      timeout: 10_000,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: options.partitions,
        replicationFactor: options.replicationFactor,
      })),
    });
    return "created";
  } catch (error) {
    if ((error as Error).name !== "KafkaJSBrokerNotFound") throw error;
    await admin.fetchTopicMetadata({ topics });
    return "auto-created";
  }
}
