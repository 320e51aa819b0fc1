import { usdAmount } from "@ledger/events";
import { z } from "zod";
import { envInt, envString, parseEnv } from "@ledger/config";

/** The API service's own settings (one schema); the engines are in @ledger/config. */
export const apiConfigSchema = z
  .object({
    LEDGER_HOST: z.string().default("127.0.0.1"),
    LEDGER_PORT: envInt(8080, 0, 65_535),
    LEDGER_INGEST_MAX_EVENTS: envInt(1_000, 1, 100_000),
    LEDGER_INGEST_MAX_BYTES: envInt(5 * 1024 * 1024, 1_024),
    /** How long a request may wait for consumers to catch up before it is answered 503. */
    LEDGER_INGEST_BACKPRESSURE_MS: envInt(10_000, 0),
    /** Requests arriving this close together share one Kafka produce request. */
    LEDGER_INGEST_LINGER_MS: envInt(5, 0, 1_000),
    /** The whole request (headers and body) must arrive within this; a trickling client gets 408. */
    LEDGER_INGEST_REQUEST_TIMEOUT_MS: envInt(30_000, 1_000, 600_000),
    /** The API tier's credential; `ledger serve` generates one on the embedded default when unset. */
    LEDGER_PLATFORM_KEY: envString().pipe(z.string().min(32, { error: "must be at least 32 characters" }).optional()),
    /** How often every replica reloads the accounts; with the sink's delay, within the 10 s of §7. */
    LEDGER_ACCOUNTS_REFRESH_MS: envInt(2_000, 100, 5_000),
    /** While Redis is away: how long a replica adds its own admissions to ClickHouse's counts. */
    LEDGER_LIMITS_FALLBACK_WINDOW_MS: envInt(10_000, 0, 600_000),
    /** What `/info` tells LangSmith clients: compress bodies with gzip / zstd (both are always read). */
    LEDGER_LANGSMITH_GZIP: z.enum(["true", "false"], { error: "must be true or false" }).default("true"),
    LEDGER_LANGSMITH_ZSTD: z.enum(["true", "false"], { error: "must be true or false" }).default("true"),
    /** LG2: the credit a legacy organization may claim once (reason early-user). */
    LEDGER_EARLY_USER_CREDIT_USD: usdAmount.default("50.00"),
  })
  .transform((e) => ({
    host: e.LEDGER_HOST,
    port: e.LEDGER_PORT,
    maxEvents: e.LEDGER_INGEST_MAX_EVENTS,
    maxBytes: e.LEDGER_INGEST_MAX_BYTES,
    backpressureMs: e.LEDGER_INGEST_BACKPRESSURE_MS,
    lingerMs: e.LEDGER_INGEST_LINGER_MS,
    requestTimeoutMs: e.LEDGER_INGEST_REQUEST_TIMEOUT_MS,
    platformKey: e.LEDGER_PLATFORM_KEY,
    accountsRefreshMs: e.LEDGER_ACCOUNTS_REFRESH_MS,
    fallbackWindowMs: e.LEDGER_LIMITS_FALLBACK_WINDOW_MS,
    advertiseGzip: e.LEDGER_LANGSMITH_GZIP === "true",
    advertiseZstd: e.LEDGER_LANGSMITH_ZSTD === "true",
    earlyUserCreditUsd: e.LEDGER_EARLY_USER_CREDIT_USD,
  }));

export type ApiConfig = z.output<typeof apiConfigSchema>;
export const apiConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(apiConfigSchema, env);
