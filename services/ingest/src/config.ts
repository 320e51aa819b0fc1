import { z } from "zod";
import { envInt, parseEnv } from "@ledger/config";

/** The ingest service's own settings; the engines are in @ledger/config. */
export const ingestConfigSchema = z
  .object({
    LEDGER_HOST: z.string().default("127.0.0.1"),
    LEDGER_PORT: envInt(8080, 0, 65_535),
    LEDGER_INGEST_MAX_EVENTS: envInt(1_000, 1, 100_000),
    LEDGER_INGEST_MAX_BYTES: envInt(5 * 1024 * 1024, 1_024),
    /** How long a request may wait for consumers to catch up before it is answered 503. */
    LEDGER_INGEST_BACKPRESSURE_MS: envInt(10_000, 0),
    /** Requests arriving this close together share one Kafka produce request. */
    LEDGER_INGEST_LINGER_MS: envInt(5, 0, 1_000),
  })
  .transform((e) => ({
    host: e.LEDGER_HOST,
    port: e.LEDGER_PORT,
    maxEvents: e.LEDGER_INGEST_MAX_EVENTS,
    maxBytes: e.LEDGER_INGEST_MAX_BYTES,
    backpressureMs: e.LEDGER_INGEST_BACKPRESSURE_MS,
    lingerMs: e.LEDGER_INGEST_LINGER_MS,
  }));

export type IngestConfig = z.output<typeof ingestConfigSchema>;
export const ingestConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(ingestConfigSchema, env);
