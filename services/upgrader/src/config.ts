import { z } from "zod";
import { envInt, parseEnv } from "@ledger/config";

export const upgraderConfigSchema = z
  .object({
    /** Traces remembered per partition in memory; the rest are read from ClickHouse. */
    LEDGER_UPGRADER_CACHE_PER_PARTITION: envInt(200_000, 1),
    LEDGER_UPGRADER_CONCURRENCY: envInt(4, 1, 64),
    /**
     * Upgraders in this process, each its own member of the consumer group. More than one
     * does not make a process faster (they share its thread); it is how a rebalance between
     * instances is exercised and measured on one machine.
     */
    LEDGER_UPGRADER_INSTANCES: envInt(1, 1, 16),
    /** How long a batch waits for other partitions' batches to share its state query/insert. */
    LEDGER_UPGRADER_LINGER_MS: envInt(10, 0, 10_000),
    /** State inserts start at least this far apart (see LEDGER_SINK_MIN_INSERT_INTERVAL_MS). */
    LEDGER_UPGRADER_MIN_SAVE_INTERVAL_MS: envInt(250, 0, 10_000),
  })
  .transform((e) => ({
    instances: e.LEDGER_UPGRADER_INSTANCES,
    cachePerPartition: e.LEDGER_UPGRADER_CACHE_PER_PARTITION,
    concurrency: e.LEDGER_UPGRADER_CONCURRENCY,
    lingerMs: e.LEDGER_UPGRADER_LINGER_MS,
    minSaveIntervalMs: e.LEDGER_UPGRADER_MIN_SAVE_INTERVAL_MS,
  }));

export type UpgraderConfig = z.output<typeof upgraderConfigSchema>;
export const upgraderConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(upgraderConfigSchema, env);
