import type { InvoiceHost } from "./invoice-routes";
import type { FastifyInstance } from "fastify";
import type { Producer } from "kafkajs";
import type { Registry } from "prom-client";
import type { UsageRow } from "@ledger/billing";
import type { DailyUsage, RetainedRunPart, RunLookup } from "@ledger/clickhouse";
import { accountKey, RECEIVED_AT_HEADER, type AccountEvent } from "@ledger/events";
import { publish, type LagGovernor, type LedgerTopics } from "@ledger/kafka";
import { systemClock, type Clock, type SeedQuery } from "@ledger/limits";
import { connectRedis, LimitCounters, RunTraceIndex } from "@ledger/redis";
import { AccountCache } from "./account-cache";
import { Admission } from "./admission";
import type { IngestConfig } from "./config";
import { EventPublisher } from "./event-publisher";
import { buildIngestServer } from "./server";

/** What an ingest replica asks of the process (or the primary) that owns ClickHouse. */
export interface IngestHost {
  usage: (query: Record<string, unknown>) => Promise<UsageRow[]>;
  dailyUsage: (query: Record<string, unknown>) => Promise<DailyUsage>;
  ready: () => Promise<void>;
  moreMetrics?: () => Promise<string>;
  accountEvents: () => Promise<AccountEvent[]>;
  counterMembers: (seed: SeedQuery) => Promise<string[]>;
  retainedRunParts: (lookup: RunLookup) => Promise<RetainedRunPart[]>;
  analystQuery: (query: string, format: string) => Promise<string>;
  invoices: InvoiceHost;
}

export interface IngestRuntimeOptions {
  config: IngestConfig;
  platformKey: string;
  redisUrl: string;
  /** Names the Redis counters (the topic prefix): deployments sharing a Redis stay apart. */
  counterPrefix: string;
  producer: Producer;
  topics: LedgerTopics;
  registry: Registry;
  publisher?: EventPublisher;
  governor?: LagGovernor;
  clock?: Clock;
  host: IngestHost;
  log?: (line: string) => void;
}

/**
 * One ingest replica: the HTTP API with its account cache, limit counters (Redis) and
 * publishers. The same wiring runs in `serve`'s worker thread, in-process for tests, and in
 * `ledger ingest`, a replica of its own.
 */
export class IngestRuntime {
  private constructor(
    readonly server: FastifyInstance,
    readonly url: string,
    private readonly accounts: AccountCache,
    private readonly redis: ReturnType<typeof connectRedis>,
  ) {}

  static async start(o: IngestRuntimeOptions): Promise<IngestRuntime> {
    const clock = o.clock ?? systemClock;
    const redis = connectRedis(o.redisUrl);
    const accounts = new AccountCache(o.host.accountEvents, o.config.accountsRefreshMs, (error) => o.log?.(`accounts: reload failed: ${error.message}`));
    try {
      await accounts.start();
      const server = buildIngestServer({
        config: o.config,
        publisher: o.publisher ?? new EventPublisher(o.producer, o.topics.events, { lingerMs: o.config.lingerMs, maxMessages: 20_000 }),
        publishRuns: (messages) => {
          o.governor?.noteMessages(o.topics.runs, messages.map((m) => m.value));
          return publish(o.producer, o.topics.runs, [...messages]);
        },
        runsTopic: o.topics.runs,
        retainedRunParts: o.host.retainedRunParts,
        analystQuery: o.host.analystQuery,
        invoices: o.host.invoices,
        registry: o.registry,
        governor: o.governor,
        usage: o.host.usage,
        dailyUsage: o.host.dailyUsage,
        ready: o.host.ready,
        moreMetrics: o.host.moreMetrics,
        clock,
        accounts,
        admission: new Admission({
          counters: new LimitCounters(redis, o.counterPrefix),
          clock,
          accounts: () => accounts.current,
          counterMembers: o.host.counterMembers,
          registry: o.registry,
          fallbackWindowMs: o.config.fallbackWindowMs,
        }),
        platformKey: o.platformKey,
        publishAccount: (event) =>
          publish(o.producer, o.topics.accounts, [{ key: accountKey(event.org_id), value: JSON.stringify(event), headers: { [RECEIVED_AT_HEADER]: String(clock.now()) } }]),
        accountEvents: o.host.accountEvents,
        counterMembers: o.host.counterMembers,
        runIndex: new RunTraceIndex(redis, o.counterPrefix),
        log: o.log,
      });
      const url = await server.listen({ host: o.config.host, port: o.config.port });
      return new IngestRuntime(server, url, accounts, redis);
    } catch (error) {
      accounts.stop();
      redis.disconnect();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.server.close();
    this.accounts.stop();
    this.redis.disconnect();
  }
}
