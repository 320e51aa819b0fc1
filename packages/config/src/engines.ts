import { z } from "zod";
import { envInt, envString, parseEnv } from "./env";

/**
 * Where Kafka and ClickHouse are. Unset brokers → the embedded Kafka-protocol test cluster;
 * unset ClickHouse URL → chDB in-process. The same code path runs on both (issue 2, item 7).
 */
export const engineConfigSchema = z
  .object({
    LEDGER_KAFKA_BROKERS: envString().transform((v) =>
      v === undefined ? undefined : v.split(",").map((b) => b.trim()).filter(Boolean),
    ),
    LEDGER_KAFKA_CLIENT_ID: z.string().default("trace-billing-ledger"),
    LEDGER_KAFKA_PARTITIONS: envInt(4, 1, 1024),
    LEDGER_KAFKA_REPLICATION_FACTOR: envInt(1, 1, 16),
    LEDGER_TOPIC_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,100}$/, { error: "must be 1–100 chars of A-Z a-z 0-9 . _ -" })
      .default("ledger"),
    LEDGER_CLICKHOUSE_URL: envString().pipe(z.url({ error: "must be a URL such as http://localhost:8123" }).optional()),
    LEDGER_CLICKHOUSE_USER: z.string().default("default"),
    LEDGER_CLICKHOUSE_PASSWORD: z.string().default(""),
    LEDGER_CLICKHOUSE_DATABASE: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, { error: "must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)" })
      .default("ledger"),
    /** A ClickHouse server's cluster: `ledger migrate` creates every table ON CLUSTER, replicated. */
    LEDGER_CLICKHOUSE_CLUSTER: envString().pipe(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, { error: "must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), the cluster's name in remote_servers" }).optional()),
    LEDGER_DATA_DIR: z.string().default(".ledger/chdb"),
    /** An analyst's query (`ledger sql`) runs at most this long, then ClickHouse stops it. */
    LEDGER_ANALYST_MAX_SECONDS: envInt(60, 1, 86_400),
    /** …and may use at most this much memory… */
    LEDGER_ANALYST_MAX_MEMORY_BYTES: envInt(2 * 1024 ** 3, 1024 ** 2),
    /** …and return at most this many bytes (before its output format). */
    LEDGER_ANALYST_MAX_RESULT_BYTES: envInt(100 * 1024 ** 2, 1024),
    /** Unset: the ledger starts its own redis-server on a Unix socket (embedded default). */
    LEDGER_REDIS_URL: envString().pipe(
      z
        .string()
        .regex(/^(redis|rediss):\/\/\S+$|^unix:\/\/\/\S+$/, { error: "must be redis://host:port[/db] or unix:///path/to/redis.sock" })
        .optional(),
    ),
    /**
     * How long the invoicer's and the sealer's leader keeps its Redis lease without renewing it
     * (renewed every third of it): a dead leader is replaced after at most this long.
     */
    LEDGER_LEADER_LEASE_MS: envInt(10_000, 1_000, 300_000),
    /** How long a silent consumer keeps its partitions; a restarted one waits this long for them. */
    LEDGER_KAFKA_SESSION_TIMEOUT_MS: envInt(30_000, 6_000, 300_000),
    /** Per partition; keeps producers within the test broker's 5 MB window (docs/configuration.md). */
    LEDGER_MAX_LAG_PER_PARTITION: envInt(8_000, 100),
    /**
     * The same for the runs topic in bytes, whose messages are a trace's runs (a kilobyte to
     * megabytes): the bound in messages is this over the mean size of the runs published lately
     * (10 KB assumed before any), so a partition's unread runs stay within half the test
     * broker's 5 MB window whatever their size.
     */
    LEDGER_MAX_RUN_LAG_BYTES_PER_PARTITION: envInt(2_500_000, 10_000),
  })
  .refine((e) => e.LEDGER_CLICKHOUSE_CLUSTER === undefined || e.LEDGER_CLICKHOUSE_URL !== undefined, {
    path: ["LEDGER_CLICKHOUSE_CLUSTER"],
    error: "needs LEDGER_CLICKHOUSE_URL: the embedded chDB is one node, not a cluster",
  })
  .transform((e) => ({
    kafka: {
      brokers: e.LEDGER_KAFKA_BROKERS,
      clientId: e.LEDGER_KAFKA_CLIENT_ID,
      partitions: e.LEDGER_KAFKA_PARTITIONS,
      replicationFactor: e.LEDGER_KAFKA_REPLICATION_FACTOR,
      topicPrefix: e.LEDGER_TOPIC_PREFIX,
      maxLagPerPartition: e.LEDGER_MAX_LAG_PER_PARTITION,
      maxRunLagBytesPerPartition: e.LEDGER_MAX_RUN_LAG_BYTES_PER_PARTITION,
      sessionTimeoutMs: e.LEDGER_KAFKA_SESSION_TIMEOUT_MS,
    },
    clickhouse: {
      url: e.LEDGER_CLICKHOUSE_URL,
      user: e.LEDGER_CLICKHOUSE_USER,
      password: e.LEDGER_CLICKHOUSE_PASSWORD,
      database: e.LEDGER_CLICKHOUSE_DATABASE,
      cluster: e.LEDGER_CLICKHOUSE_CLUSTER,
      dataDir: e.LEDGER_DATA_DIR,
      analyst: { maxSeconds: e.LEDGER_ANALYST_MAX_SECONDS, maxMemoryBytes: e.LEDGER_ANALYST_MAX_MEMORY_BYTES, maxResultBytes: e.LEDGER_ANALYST_MAX_RESULT_BYTES },
    },
    redis: { url: e.LEDGER_REDIS_URL, leaseMs: e.LEDGER_LEADER_LEASE_MS },
  }));

export type EngineConfig = z.output<typeof engineConfigSchema>;
export type KafkaConfig = EngineConfig["kafka"];
export type ClickHouseConfig = EngineConfig["clickhouse"];
export type RedisConfig = EngineConfig["redis"];

export function engineConfigFromEnv(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  return parseEnv(engineConfigSchema, env);
}
