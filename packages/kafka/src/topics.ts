import kafkajs, { type Admin } from "kafkajs";

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
  /** Account events (§7), keyed by org_id; compacted where the broker allows. */
  accounts: string;
  /** Run data of the LangSmith API (§9), keyed by (org_id, trace_id); kept by the sink in runs_v1. */
  runs: string;
  /** `invoice-issued` events for payment and ERP systems, keyed by org_id; the ledger reads none. */
  invoices: string;
  /** `usage-threshold-crossed` events (§6.6), keyed by org_id; the ledger reads none. */
  alerts: string;
}

export function ledgerTopics(prefix: string): LedgerTopics {
  return {
    events: `${prefix}.trace-events`,
    upgrades: `${prefix}.retention-upgrades`,
    rejections: `${prefix}.trigger-rejections`,
    deadLetters: `${prefix}.dead-letters`,
    accounts: `${prefix}.accounts`,
    runs: `${prefix}.runs`,
    invoices: `${prefix}.invoices`,
    alerts: `${prefix}.alerts`,
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
    { groupId: groups.sink, topics: [t.events, t.upgrades, t.rejections, t.accounts, t.runs] },
  ];
}

export function allTopics(t: LedgerTopics): string[] {
  return [t.events, t.upgrades, t.rejections, t.deadLetters, t.accounts, t.runs, t.invoices, t.alerts];
}

/**
 * Topic settings beyond partitions. The accounts topic is compacted (the latest event per
 * organization is kept forever), but only after a week: the sink materializes every account
 * event in ClickHouse long before, and ClickHouse, not the topic, is what ingest reads.
 */
export const TOPIC_CONFIG: Record<string, { name: string; value: string }[]> = {
  accounts: [
    { name: "cleanup.policy", value: "compact" },
    { name: "min.compaction.lag.ms", value: String(7 * 86_400_000) },
  ],
};

/**
 * Creates the topics with the configured partitions where the broker allows it. The test
 * broker refuses CreateTopics (it names no controller), so there the topics are created by
 * auto-creation on a metadata request, with the broker's default of 4 partitions.
 */
/**
 * Leaders elected is not yet every partition's offsets answered: a broker just after creating a
 * topic can answer ListOffsets without its partitions for a moment. Whoever reads offsets next
 * (the lag governor, a test) gets them.
 */
async function untilOffsetsAnswer(admin: Admin, topics: readonly string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const topic of topics) {
    for (;;) {
      const ok = await admin.fetchTopicOffsets(topic).then(
        (offsets) => offsets.length > 0,
        () => false,
      );
      if (ok || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function ensureTopics(
  admin: Admin,
  topics: string[],
  options: { partitions: number; replicationFactor: number },
  configs: Record<string, { name: string; value: string }[]> = {},
): Promise<"created" | "auto-created"> {
  try {
    await admin.createTopics({
      waitForLeaders: true,
      timeout: 10_000,
      topics: topics.map((topic) => ({
        topic,
        numPartitions: options.partitions,
        replicationFactor: options.replicationFactor,
        ...(configs[topic] ? { configEntries: configs[topic] } : {}),
      })),
    });
    await untilOffsetsAnswer(admin, topics);
    return "created";
  } catch (error) {
    if (!(error instanceof kafkajs.KafkaJSBrokerNotFound)) throw error;
    await admin.fetchTopicMetadata({ topics });
    return "auto-created";
  }
}
