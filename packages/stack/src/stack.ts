import type { FastifyInstance } from "fastify";
import type { Admin, Kafka, Producer } from "kafkajs";
import { Gauge, Registry } from "prom-client";
import type { EngineConfig } from "@ledger/config";
import {
  allTopics,
  consumerLag,
  createKafka,
  createProducer,
  ensureTopics,
  LagGovernor,
  ledgerTopics,
  startMockCluster,
  waitForDrain,
  ledgerGroups,
  ledgerWatches,
  type LagWatch,
  type LedgerTopics,
  type MockCluster,
} from "@ledger/kafka";
import { connectClickHouse, migrate, queryUsage, type LedgerClickHouse } from "@ledger/clickhouse";
import { buildIngestServer, EventPublisher, IngestThread, type IngestConfig } from "@ledger/ingest";
import { Upgrader, type UpgraderConfig } from "@ledger/upgrader";
import { Sink, type SinkConfig } from "@ledger/sink";

export interface StackOptions {
  engines: EngineConfig;
  upgrader: UpgraderConfig;
  sink: SinkConfig;
  /** Start the HTTP API too (serve, bench); replay publishes directly. */
  ingest?: IngestConfig;
  /** Run the HTTP API on a worker thread (serve): parsing and producing then use the second core. */
  ingestThread?: boolean;
  log?: (line: string) => void;
}

/**
 * Every component of the ledger in one process: the engines (embedded or external), the
 * upgrader and sink consumers, and optionally the ingest API. `stop()` shuts down in order:
 * intake, consumers (each finishes and commits its batch), producer, ClickHouse, the broker.
 */
export class LedgerStack {
  readonly registry = new Registry();
  readonly topics: LedgerTopics;
  readonly groups: { upgrader: string; sink: string };
  kafka!: Kafka;
  admin!: Admin;
  producer!: Producer;
  clickhouse!: LedgerClickHouse;
  publisher!: EventPublisher;
  governor!: LagGovernor;
  server?: FastifyInstance;
  private ingestThread?: IngestThread;
  url?: string;
  brokers: string[] = [];
  private mock?: MockCluster;
  private upgrader?: Upgrader;
  private sink?: Sink;
  private fatalError: Error | null = null;
  private readonly fatalListeners: ((error: Error) => void)[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly options: StackOptions) {
    this.log = options.log ?? (() => {});
    const prefix = options.engines.kafka.topicPrefix;
    this.topics = ledgerTopics(prefix);
    this.groups = ledgerGroups(prefix);
  }

  static async start(options: StackOptions): Promise<LedgerStack> {
    const stack = new LedgerStack(options);
    try {
      await stack.startComponents();
    } catch (error) {
      await stack.stop().catch(() => {});
      throw error;
    }
    return stack;
  }

  onFatal(listener: (error: Error) => void): void {
    if (this.fatalError) listener(this.fatalError);
    else this.fatalListeners.push(listener);
  }

  get fatal(): Error | null {
    return this.fatalError;
  }

  private async startComponents(): Promise<void> {
    const { engines } = this.options;
    if (engines.kafka.brokers) {
      this.brokers = engines.kafka.brokers;
    } else {
      this.mock = await startMockCluster();
      this.brokers = this.mock.brokers;
      this.log(`kafka: embedded test cluster at ${this.brokers.join(",")} (kcat pid ${this.mock.pid})`);
    }
    this.kafka = createKafka(this.brokers, engines.kafka.clientId);
    this.admin = this.kafka.admin();
    await this.admin.connect();
    const how = await ensureTopics(this.admin, allTopics(this.topics), engines.kafka);
    this.log(`kafka: topics ${how}: ${allTopics(this.topics).join(", ")}`);
    this.producer = createProducer(this.kafka);
    await this.producer.connect();
    this.publisher = new EventPublisher(
      this.producer,
      this.topics.events,
      this.options.ingest ? { lingerMs: this.options.ingest.lingerMs, maxMessages: 20_000 } : undefined,
    );

    this.clickhouse = await connectClickHouse(engines.clickhouse);
    this.log(
      `clickhouse: ${this.clickhouse.engine === "chdb" ? `chDB in ${engines.clickhouse.dataDir}` : engines.clickhouse.url}, database ${this.clickhouse.database}`,
    );
    await migrate(this.clickhouse, this.log);

    const onFatal = (error: Error) => this.raiseFatal(error);
    const common = { sessionTimeoutMs: engines.kafka.sessionTimeoutMs, kafka: this.kafka, admin: this.admin, producer: this.producer, clickhouse: this.clickhouse, topics: this.topics, registry: this.registry, onFatal };
    this.upgrader = new Upgrader({ ...common, groupId: this.groups.upgrader, config: this.options.upgrader });
    this.sink = new Sink({ ...common, groupId: this.groups.sink, config: this.options.sink });
    await Promise.all([this.upgrader.start(), this.sink.start()]);

    this.governor = new LagGovernor(this.admin, this.lagWatches(), engines.kafka.maxLagPerPartition);
    this.registerLagGauge();

    if (this.options.ingest && this.options.ingestThread) {
      this.ingestThread = await IngestThread.start(
        { brokers: this.brokers, kafka: engines.kafka, topics: this.topics, watches: this.lagWatches(), config: this.options.ingest },
        {
          usage: (query) => queryUsage(this.clickhouse, query),
          ready: () => this.ready(),
          metrics: () => this.registry.metrics(),
          onFatal: (error) => this.raiseFatal(error),
        },
      );
      this.url = this.ingestThread.url;
    } else if (this.options.ingest) {
      const ingest = this.options.ingest;
      this.server = buildIngestServer({
        config: ingest,
        publisher: this.publisher,
        registry: this.registry,
        governor: this.governor,
        usage: (query) => queryUsage(this.clickhouse, query),
        ready: () => this.ready(),
      });
      this.url = await this.server.listen({ host: ingest.host, port: ingest.port });
    }
  }

  lagWatches(): LagWatch[] {
    return ledgerWatches(this.topics, this.groups);
  }

  private registerLagGauge(): void {
    const stack = this;
    new Gauge({
      name: "ledger_consumer_lag",
      help: "Messages a consumer group has not committed yet, per topic partition",
      labelNames: ["group", "topic", "partition"],
      registers: [this.registry],
      async collect() {
        for (const w of stack.lagWatches()) {
          for (const l of await consumerLag(stack.admin, w.groupId, w.topics)) {
            this.set({ group: l.groupId, topic: l.topic, partition: String(l.partition) }, Number(l.lag));
          }
        }
      },
    });
  }

  private raiseFatal(error: Error): void {
    if (this.fatalError) return;
    this.fatalError = error;
    this.log(`fatal: ${error.message}`);
    for (const l of this.fatalListeners) l(error);
  }

  async ready(): Promise<void> {
    if (this.fatalError) throw this.fatalError;
    await this.admin.fetchTopicMetadata({ topics: [this.topics.events] });
    const ping = await this.clickhouse.client.ping();
    if (!ping.success) throw new Error(`ClickHouse does not answer: ${String(ping.error)}`);
  }

  /**
   * Resolves once every event published so far is reflected in the billing views: the upgrader
   * has committed all trace events, then the sink has committed every topic up to its end.
   */
  async waitUntilDrained(options: { timeoutMs?: number; onProgress?: (remaining: bigint) => void } = {}): Promise<void> {
    await waitForDrain(this.admin, this.lagWatches(), { ...options, abort: () => this.fatalError });
  }

  async stop(): Promise<void> {
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => Promise<unknown> | undefined) => {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
        this.log(`stop: ${what} failed: ${(error as Error).message}`);
      }
    };
    await step("ingest", () => this.server?.close());
    await step("ingest thread", () => this.ingestThread?.stop());
    await step("consumers", () => Promise.all([this.upgrader?.stop(), this.sink?.stop()]));
    await step("producer", () => this.producer?.disconnect());
    await step("admin", () => this.admin?.disconnect());
    await step("clickhouse", () => this.clickhouse?.close());
    await step("broker", () => this.mock?.stop());
    if (errors.length > 0) throw new AggregateError(errors, "the ledger did not stop cleanly");
  }
}

