import { Registry } from "prom-client";
import { ConfigError } from "@ledger/config";
import type { CatalogueVersionJson, InvoiceDocument, UsageRow } from "@ledger/billing";
import type { AccountEvent } from "@ledger/events";
import type { DailyUsage, RetainedRunPart } from "@ledger/clickhouse";
import { IngestRuntime, type ClosedPeriod, type HostAnswer, type LineSources, type OrgPeriod } from "@ledger/ingest";
import { createKafka, createProducer, LagGovernor, ledgerGroups, ledgerTopics, ledgerWatches, runLagBound } from "@ledger/kafka";
import { callLedger } from "./admin-client";
import { configFromEnv } from "./engines-from-env";
import { clientPlatformKey } from "./platform-key";

/**
 * `ledger ingest`: one more ingest replica beside a running `serve` (the primary), sharing its
 * Kafka and Redis. It publishes straight to Kafka; what it needs of ClickHouse (accounts,
 * counter sources, usage) it asks the primary for, since an embedded chDB belongs to one process.
 */
export async function ingestReplica(options: { primary: string; port?: number; host?: string }): Promise<void> {
  const config = configFromEnv();
  const { engines } = config;
  if (!engines.kafka.brokers) throw new ConfigError("LEDGER_KAFKA_BROKERS: must name the primary's Kafka (`ledger broker` runs one that outlives serve)");
  if (!engines.redis.url) throw new ConfigError("LEDGER_REDIS_URL: must name the Redis the primary uses (replicas share one set of counters)");
  const platformKey = clientPlatformKey(config.ingest.platformKey, engines);
  const ingest = { ...config.ingest, ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host ? { host: options.host } : {}) };
  const log = (line: string) => process.stderr.write(`ledger: ${line}\n`);
  const topics = ledgerTopics(engines.kafka.topicPrefix);
  const kafka = createKafka(engines.kafka.brokers, `${engines.kafka.clientId}-ingest-replica`);
  const admin = kafka.admin();
  await admin.connect();
  const producer = createProducer(kafka);
  await producer.connect();
  const primary = <T>(method: string, path: string, body?: unknown) => callLedger<T>(options.primary, platformKey, method, path, body);
  const runtime = await IngestRuntime.start({
    config: ingest,
    platformKey,
    redisUrl: engines.redis.url,
    counterPrefix: engines.kafka.topicPrefix,
    producer,
    topics,
    registry: new Registry(),
    governor: new LagGovernor(admin, ledgerWatches(topics, ledgerGroups(engines.kafka.topicPrefix)), engines.kafka.maxLagPerPartition, { [topics.runs]: runLagBound(engines.kafka.maxRunLagBytesPerPartition, engines.kafka.maxLagPerPartition) }),
    host: {
      usage: async (query) => {
        const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
        return (await primary<{ rows: UsageRow[] }>("GET", `/v1/usage?${q}`)).rows;
      },
      dailyUsage: async (query) => {
        const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
        return await primary<DailyUsage>("GET", `/v1/usage/daily?${q}`);
      },
      ready: async () => {
        await primary("GET", "/readyz");
      },
      accountEvents: async () => (await primary<{ events: AccountEvent[] }>("GET", "/v1/admin/account-events")).events,
      counterMembers: async (seed) => (await primary<{ members: string[] }>("POST", "/v1/admin/counter-members", seed)).members,
      retainedRunParts: async (lookup) => (await primary<{ parts: RetainedRunPart[] }>("POST", "/v1/admin/retained-run-parts", lookup)).parts,
      analystQuery: async (query, format) => (await primary<{ output: string }>("POST", "/v1/admin/sql", { query, format })).output,
      // The primary owns ClickHouse and the invoicer; its refusals keep their status here.
      invoices: {
        invoice: (org, period) => answerOf(primary<InvoiceDocument>("GET", `/v1/invoices/${encodeURIComponent(org)}/${period}`)),
        periods: async (org) => answerOf((async () => (await primary<{ periods: OrgPeriod[] }>("GET", `/v1/invoices/${encodeURIComponent(org)}`)).periods)()),
        lineSources: (org, period, n) => answerOf(primary<LineSources>("GET", `/v1/invoices/${encodeURIComponent(org)}/${period}/lines/${n}/sources`)),
        exportPeriod: async (period, dataset, format) => {
          const res = await fetch(new URL(`/v1/admin/export/${encodeURIComponent(period)}?dataset=${dataset}&format=${format === "Parquet" ? "parquet" : "csv"}`, options.primary), { headers: { "x-api-key": platformKey } });
          if (res.ok) return { ok: true as const, value: new Uint8Array(await res.arrayBuffer()) };
          const status = res.status;
          const error = ((await res.json().catch(() => ({}))) as { error?: string }).error ?? `the primary answered ${status}`;
          if (status === 400 || status === 404 || status === 409) return { ok: false as const, status, error };
          throw new Error(error);
        },
        catalogue: () => answerOf(primary<CatalogueVersionJson[]>("GET", "/v1/admin/catalogue")),
        addCatalogueVersion: (version) => answerOf(primary<CatalogueVersionJson>("POST", "/v1/admin/catalogue", version)),
        closePeriod: (period, wait) => answerOf(primary<ClosedPeriod>("POST", `/v1/admin/periods/${encodeURIComponent(period)}/close`, { wait })),
      },
    },
    log,
  });
  process.stdout.write(`ledger: ingest replica listening on ${runtime.url} (primary ${options.primary})\n`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: stopping intake, flushing the producer`);
    await runtime.stop();
    await producer.disconnect();
    await admin.disconnect();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

async function answerOf<T>(request: Promise<T>): Promise<HostAnswer<T>> {
  try {
    return { ok: true, value: await request };
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 400 || status === 404 || status === 409) return { ok: false, status, error: (error as Error).message };
    throw error;
  }
}
