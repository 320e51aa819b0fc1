import { z } from "zod";
import { envInt, parseEnv } from "@ledger/config";

export const sinkConfigSchema = z
  .object({
    LEDGER_SINK_CONCURRENCY: envInt(4, 1, 64),
    /** How long a batch waits for other partitions' batches to share its insert. */
    LEDGER_SINK_LINGER_MS: envInt(20, 0, 10_000),
    LEDGER_SINK_MAX_INSERT_ROWS: envInt(50_000, 1),
    /** How often runs of upgraded traces are given their 400-day copies (§9). */
    LEDGER_SINK_RUN_RETENTION_MS: envInt(5_000, 100, 3_600_000),
  })
  .transform((e) => ({
    concurrency: e.LEDGER_SINK_CONCURRENCY,
    lingerMs: e.LEDGER_SINK_LINGER_MS,
    maxInsertRows: e.LEDGER_SINK_MAX_INSERT_ROWS,
    runRetentionMs: e.LEDGER_SINK_RUN_RETENTION_MS,
  }));

export type SinkConfig = z.output<typeof sinkConfigSchema>;
export const sinkConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(sinkConfigSchema, env);
