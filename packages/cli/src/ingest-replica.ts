import { Registry } from "prom-client";
import { ConfigError } from "@ledger/config";
import { ApiRuntime, backendOverHttp, readsFromClickHouse, type LedgerBackend } from "@ledger/api";
import { connectClickHouse, type LedgerClickHouse } from "@ledger/clickhouse";
import { createKafka, createProducer, LagGovernor, ledgerGroups, ledgerTopics, ledgerWatches, runLagBound } from "@ledger/kafka";
import { configFromEnv } from "./engines-from-env";
import { clientPlatformKey } from "./platform-key";

/**
 * `ledger ingest`: one more API replica beside a running `serve` (the primary), sharing its
 * Kafka and Redis. It publishes straight to Kafka. On a ClickHouse server
 * (`LEDGER_CLICKHOUSE_URL`) it reads ClickHouse itself and asks the primary only for what the
 * invoicer and the consumers do; on the embedded default it asks the primary for everything over
 * HTTP (the backend contract), since an embedded chDB belongs to one process.
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
  const overHttp = backendOverHttp(options.primary, platformKey);
  let clickhouse: LedgerClickHouse | undefined;
  let backend: LedgerBackend = overHttp;
  if (engines.clickhouse.url) {
    clickhouse = await connectClickHouse(engines.clickhouse);
    backend = { ...overHttp, ...readsFromClickHouse(clickhouse, () => Date.now()) };
  }
  const runtime = await ApiRuntime.start({
    config: ingest,
    platformKey,
    redisUrl: engines.redis.url,
    counterPrefix: engines.kafka.topicPrefix,
    producer,
    topics,
    registry: new Registry(),
    governor: new LagGovernor(admin, ledgerWatches(topics, ledgerGroups(engines.kafka.topicPrefix)), engines.kafka.maxLagPerPartition, { [topics.runs]: runLagBound(engines.kafka.maxRunLagBytesPerPartition, engines.kafka.maxLagPerPartition) }),
    backend,
    log,
  });
  process.stdout.write(`ledger: ingest replica listening on ${runtime.url} (primary ${options.primary}; ClickHouse read ${clickhouse ? "directly" : "through the primary"})\n`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: stopping intake, flushing the producer`);
    await runtime.stop();
    await producer.disconnect();
    await admin.disconnect();
    await clickhouse?.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
