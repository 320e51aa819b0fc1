import type { FastifyInstance } from "fastify";
import { Gauge, Registry } from "prom-client";
import type { EngineConfig } from "@ledger/config";
import {
  allTopics,
  consumerLag,
  createKafka,
  createProducer,
  ensureTopics,
  LagGovernor,
  runLagBound,
  ledgerTopics,
  startMockCluster,
  waitForDrain,
  publish,
  ledgerGroups,
  TOPIC_CONFIG,
  ledgerWatches,
  type LagWatch,
  type LedgerTopics,
  type MockCluster,
  type KafkaAdmin,
  type KafkaConnection,
  type KafkaProducer,
} from "@ledger/kafka";
import { stopAnalystQueries, connectClickHouse, migrate, type LedgerClickHouse } from "@ledger/clickhouse";
import { ApiRuntime, ApiThread, EventPublisher, readsFromClickHouse, type ApiConfig, type ClosedPeriod, type LedgerBackend } from "@ledger/api";
import { accountKey, RECEIVED_AT_HEADER, type AccountEvent } from "@ledger/events";
import type { Clock } from "@ledger/limits";
import { connectRedis, LeaderLease, startRedisServer, type RedisClient, type RedisServer } from "@ledger/redis";
import { neverLeads } from "@ledger/batching";
import { hostname } from "node:os";
import { Upgrader, type UpgraderConfig } from "@ledger/upgrader";
import { Sink, type SinkConfig } from "@ledger/sink";
import { Invoicer, type InvoicerConfig } from "@ledger/invoicer";
import { Sealer, type SealerConfig } from "@ledger/sealer";

/** The roles besides the API; `ledger serve` runs them all, `ledger run` any set. */
export const BACKGROUND_ROLES = ["upgrader", "sink", "invoicer", "sealer"] as const;
export type BackgroundRole = (typeof BACKGROUND_ROLES)[number];

/** The Redis lease every instance of a singleton role of a deployment competes for. */
export const leaseName = (deployment: string, role: LeasedRole) => `${deployment}:${role}`;
/** What only one instance of a deployment does at a time: the two singleton roles, and the sink's run retention pass. */
export type LeasedRole = "invoicer" | "sealer" | "run-retention";

export interface StackOptions {
  engines: EngineConfig;
  /** Which of the background roles this process runs (default: all of them). */
  roles?: readonly BackgroundRole[];
  upgrader: UpgraderConfig;
  sink: SinkConfig;
  /** Period close and final invoices; without it periods close only by command or replay log, and freeze within half a second. */
  invoicer?: InvoicerConfig;
  /** Hourly rollups; by default an hour is sealed after 2 s without rows (tests read sealed and raw hours). */
  sealer?: SealerConfig;
  /** Start the HTTP API too (serve, bench); replay publishes directly. */
  ingest?: ApiConfig;
  /** Run the HTTP API on a worker thread (serve): parsing and producing then use the second core. */
  ingestThread?: boolean;
  /** The API tier's credential (required with `ingest`). */
  platformKey?: string;
  /** The ledger's clock for limits (tests set it); the system clock otherwise. In-process ingest only. */
  clock?: Clock;
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
  kafka!: KafkaConnection;
  admin!: KafkaAdmin;
  producer!: KafkaProducer;
  clickhouse!: LedgerClickHouse;
  publisher!: EventPublisher;
  governor!: LagGovernor;
  server?: FastifyInstance;
  private apiRuntime?: ApiRuntime;
  private apiThread?: ApiThread;
  private redisServer?: RedisServer;
  private redis?: RedisClient;
  private readonly leases: LeaderLease[] = [];
  redisUrl?: string;
  readonly roles: ReadonlySet<BackgroundRole>;
  /** The deployment this process belongs to (its topic prefix): instances of a role share its leases. */
  readonly deployment: string;
  url?: string;
  brokers: string[] = [];
  private mock?: MockCluster;
  private upgraders: Upgrader[] = [];
  private sinks: Sink[] = [];
  invoicer!: Invoicer;
  sealer?: Sealer;
  private fatalError: Error | null = null;
  private readonly fatalListeners: ((error: Error) => void)[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly options: StackOptions) {
    this.log = options.log ?? (() => {});
    this.roles = new Set(options.roles ?? BACKGROUND_ROLES);
    const prefix = (this.deployment = options.engines.kafka.topicPrefix);
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

  /** The platform key the ingest API accepts (tests and the bench present it). */
  get platformKey(): string | undefined {
    return this.options.platformKey;
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
    const how = await ensureTopics(this.admin, allTopics(this.topics), engines.kafka, { [this.topics.accounts]: TOPIC_CONFIG.accounts! });
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
    // Redis: the API's shared counters, and the leases of what one instance does at a time.
    if (this.options.ingest || this.roles.has("invoicer") || this.roles.has("sealer") || this.roles.has("sink")) await this.startRedis();
    const { upgrader, sink } = this.options;
    if (this.roles.has("upgrader")) for (let i = 0; i < upgrader.instances; i++) this.upgraders.push(new Upgrader({ ...common, groupId: this.groups.upgrader, config: upgrader }));
    if (this.roles.has("sink")) {
      const retention = await this.lease("run-retention");
      for (let i = 0; i < sink.instances; i++) {
        this.sinks.push(new Sink({ ...common, groupId: this.groups.sink, config: sink, retentionLeadership: i === 0 ? retention : neverLeads("run retention") }));
      }
    }
    await Promise.all([...this.upgraders, ...this.sinks].map((c) => c.start()));

    const now = () => (this.options.clock ?? { now: () => Date.now() }).now();
    // Without the role, an invoicer still answers the API's commands (a close, a price version).
    this.invoicer = new Invoicer({
      admin: this.admin,
      producer: this.producer,
      clickhouse: this.clickhouse,
      topics: this.topics,
      config: this.options.invoicer ?? { closeGraceMs: null, intervalMs: 500 },
      registry: this.registry,
      now,
      log: this.log,
      leadership: this.roles.has("invoicer") ? await this.lease("invoicer") : neverLeads("invoicer"),
    });
    if (this.roles.has("invoicer")) this.invoicer.start();
    if (this.roles.has("sealer")) {
      this.sealer = new Sealer({
        clickhouse: this.clickhouse,
        config: this.options.sealer ?? { quietMs: 2_000, intervalMs: 1_000, batchHours: 20_000 },
        registry: this.registry,
        now: () => Date.now(),
        log: this.log,
        leadership: await this.lease("sealer"),
      });
      this.sealer.start();
    }

    this.governor = new LagGovernor(this.admin, this.lagWatches(), engines.kafka.maxLagPerPartition, { [this.topics.runs]: runLagBound(engines.kafka.maxRunLagBytesPerPartition, engines.kafka.maxLagPerPartition) });
    this.registerLagGauge();

    if (this.options.ingest) await this.startIngest(this.options.ingest);
  }

  /**
   * The API's backend contract answered by this process: ClickHouse's reads, the invoicer, the
   * consumers' readiness and metrics. A refusal (the invoicer's, an analyst's) keeps its status.
   */
  backend(): LedgerBackend {
    const now = () => (this.options.clock ?? { now: () => Date.now() }).now();
    return {
      ...readsFromClickHouse(this.clickhouse, now),
      addCatalogueVersion: (version) => this.invoicer.addCatalogueVersion(version),
      setAlert: (rule) => this.invoicer.setAlert(rule),
      closePeriod: async (period, wait): Promise<ClosedPeriod> => {
        const closed = await this.invoicer.close(period);
        if (wait) await this.invoicer.waitUntilFinal(period, 120_000);
        return { ...closed, final: wait };
      },
      ready: () => this.ready(),
      metrics: () => this.registry.metrics(),
    };
  }

  private async startIngest(ingest: ApiConfig): Promise<void> {
    const { engines, platformKey } = this.options;
    if (!platformKey) throw new Error("the ingest API needs a platform key (LEDGER_PLATFORM_KEY)");
    const redisUrl = this.redisUrl!;
    if (this.options.ingestThread) {
      this.apiThread = await ApiThread.start(
        { brokers: this.brokers, kafka: engines.kafka, topics: this.topics, watches: this.lagWatches(), config: ingest, platformKey, redisUrl },
        this.backend(),
        (error) => this.raiseFatal(error),
      );
      this.url = this.apiThread.url;
    } else {
      this.apiRuntime = await ApiRuntime.start({
        config: ingest,
        platformKey,
        redisUrl,
        counterPrefix: engines.kafka.topicPrefix,
        producer: this.producer,
        topics: this.topics,
        publisher: this.publisher,
        governor: this.governor,
        ...(this.options.clock ? { clock: this.options.clock } : {}),
        // Its own registry, as on the thread: the backend's metrics are this process's.
        registry: new Registry(),
        backend: this.backend(),
        log: this.log,
      });
      this.server = this.apiRuntime.server;
      this.url = this.apiRuntime.url;
    }
  }

  private async startRedis(): Promise<void> {
    const { engines } = this.options;
    if (engines.redis.url) {
      this.redisUrl = engines.redis.url;
    } else {
      this.redisServer = await startRedisServer();
      this.redisUrl = this.redisServer.url;
      this.log(`redis: embedded redis-server at ${this.redisServer.socket} (pid ${this.redisServer.pid})`);
    }
    this.redis = connectRedis(this.redisUrl);
  }

  /**
   * The role's leader lease in Redis, shared by every instance of this deployment (its topic
   * prefix). Resolves after the first attempt, so a process alone leads from its start.
   */
  private async lease(role: LeasedRole): Promise<LeaderLease> {
    const lease = new LeaderLease(this.redis!, {
      name: leaseName(this.deployment, role),
      holder: `${hostname()}:${process.pid}`,
      ttlMs: this.options.engines.redis.leaseMs,
      log: this.log,
    });
    this.leases.push(lease);
    await lease.start();
    return lease;
  }

  /** Account events of a replay log, keyed by organization (§7), acknowledged by KafkaConnection. */
  async publishAccounts(events: readonly AccountEvent[], receivedAtMs = Date.now()): Promise<void> {
    await publish(
      this.producer,
      this.topics.accounts,
      events.map((e) => ({ key: accountKey(e.org_id), value: JSON.stringify(e), headers: { [RECEIVED_AT_HEADER]: String(receivedAtMs) } })),
    );
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
    // Not Redis: without it the API fails open and the singletons wait for their lease; both go on.
  }

  /**
   * Resolves once every event published so far is reflected in the billing views: the upgrader
   * has committed all trace events, then the sink has committed every topic up to its end.
   */
  async waitUntilDrained(options: { timeoutMs?: number; onProgress?: (remaining: bigint) => void } = {}): Promise<void> {
    await waitForDrain(this.admin, this.lagWatches(), { ...options, abort: () => this.fatalError });
  }

  /** Runs the sink's run retention pass now (§9: upgraded traces' runs kept 400 days). */
  async keepUpgradedRuns(): Promise<void> {
    await this.sinks[0]?.keepUpgradedRuns();
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
    // An analyst's query holds its HTTP request open until it ends: stop them first, so that
    // closing the API waits for nothing long.
    await step("analysts", () => (this.clickhouse ? stopAnalystQueries(this.clickhouse) : undefined));
    await step("api", () => this.apiRuntime?.stop());
    await step("api thread", () => this.apiThread?.stop());
    await step("invoicer", () => this.invoicer?.stop());
    await step("sealer", () => this.sealer?.stop());
    await step("leases", () => Promise.all(this.leases.map((l) => l.stop())));
    await step("consumers", () => Promise.all([...this.upgraders, ...this.sinks].map((c) => c.stop())));
    await step("producer", () => this.producer?.disconnect());
    await step("admin", () => this.admin?.disconnect());
    await step("clickhouse", () => this.clickhouse?.close());
    await step("broker", () => this.mock?.stop());
    await step("redis client", async () => void this.redis?.disconnect());
    await step("redis", () => this.redisServer?.stop());
    if (errors.length > 0) throw new AggregateError(errors, "the ledger did not stop cleanly");
  }
}

