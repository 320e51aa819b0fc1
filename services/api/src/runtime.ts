import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import { accountKey, RECEIVED_AT_HEADER } from "@ledger/events";
import { publish, type LagGovernor, type LedgerTopics, type KafkaProducer } from "@ledger/kafka";
import { systemClock, type Clock } from "@ledger/limits";
import { connectRedis, LimitCounters, RunTraceIndex } from "@ledger/redis";
import { AccountCache } from "./auth/account-cache";
import { Authenticator } from "./auth/authentication";
import type { LedgerBackend } from "./backend/contract";
import type { ApiConfig } from "./config";
import { Admission } from "./intake/admission";
import { EventIntake } from "./intake/event-intake";
import { EventPublisher } from "./intake/event-publisher";
import { ApiMetrics } from "./intake/metrics";
import { buildApiServer } from "./server";

export interface ApiRuntimeOptions {
  config: ApiConfig;
  platformKey: string;
  redisUrl: string;
  /** Names the Redis counters (the topic prefix): deployments sharing a Redis stay apart. */
  counterPrefix: string;
  producer: KafkaProducer;
  topics: LedgerTopics;
  registry: Registry;
  /** What the API asks of the process that holds ClickHouse (in process, over a thread, or HTTP). */
  backend: LedgerBackend;
  publisher?: EventPublisher;
  governor?: LagGovernor;
  clock?: Clock;
  log?: (line: string) => void;
}

/**
 * One API replica: the HTTP API with its account cache, limit counters and run index (Redis),
 * and publishers. The same wiring runs on `serve`'s worker thread, in process for tests, and in
 * `ledger ingest`, a replica of its own; only the backend's transport differs.
 */
export class ApiRuntime {
  private constructor(
    readonly server: FastifyInstance,
    readonly url: string,
    private readonly accounts: AccountCache,
    private readonly redis: ReturnType<typeof connectRedis>,
  ) {}

  static async start(o: ApiRuntimeOptions): Promise<ApiRuntime> {
    const clock = o.clock ?? systemClock;
    const redis = connectRedis(o.redisUrl);
    const accounts = new AccountCache(() => o.backend.accountEvents(), o.config.accountsRefreshMs, (error) => o.log?.(`accounts: reload failed: ${error.message}`));
    try {
      await accounts.start();
      const metrics = new ApiMetrics(o.registry);
      const admission = new Admission({
        counters: new LimitCounters(redis, o.counterPrefix),
        clock,
        accounts: () => accounts.current,
        counterMembers: (seed) => o.backend.counterMembers(seed),
        registry: o.registry,
        fallbackWindowMs: o.config.fallbackWindowMs,
      });
      const publisher = o.publisher ?? new EventPublisher(o.producer, o.topics.events, { lingerMs: o.config.lingerMs, maxMessages: 20_000 });
      const intake = new EventIntake({
        admission,
        accounts: () => accounts.current,
        seatHolders: (org) => o.backend.seatHolders(org),
        publisher,
        publishRuns: (messages) => {
          o.governor?.noteMessages(o.topics.runs, messages.map((m) => m.value));
          return publish(o.producer, o.topics.runs, [...messages]);
        },
        runsTopic: o.topics.runs,
        governor: o.governor,
        clock,
        metrics,
        backpressureMs: o.config.backpressureMs,
      });
      const server = buildApiServer({
        config: o.config,
        auth: new Authenticator(accounts, o.platformKey),
        accounts,
        admission,
        intake,
        runIndex: new RunTraceIndex(redis, o.counterPrefix),
        backend: o.backend,
        clock,
        metrics,
        registry: o.registry,
        publishAccount: (event) =>
          publish(o.producer, o.topics.accounts, [{ key: accountKey(event.org_id), value: JSON.stringify(event), headers: { [RECEIVED_AT_HEADER]: String(clock.now()) } }]),
        log: o.log,
      });
      const url = await server.listen({ host: o.config.host, port: o.config.port });
      return new ApiRuntime(server, url, accounts, redis);
    } catch (error) {
      accounts.stop();
      redis.disconnect();
      throw error;
    }
  }

  /** Stops intake: no new requests; those in flight are answered, then their connections close. */
  async stop(): Promise<void> {
    // A connection still answering when the close begins goes idle later, and keep-alive would
    // hold it (and the close) for fastify's 72 s: close each as it goes idle.
    const reaper = setInterval(() => this.server.server.closeIdleConnections(), 100);
    try {
      await this.server.close();
    } finally {
      clearInterval(reaper);
    }
    this.accounts.stop();
    this.redis.disconnect();
  }
}
