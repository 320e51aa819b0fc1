import { z } from "zod";
import { envInt, parseEnv } from "@ledger/config";

export const sinkConfigSchema = z
  .object({
    LEDGER_SINK_CONCURRENCY: envInt(4, 1, 64),
    /**
     * Sinks in this process, each its own member of the consumer group. More than one
     * does not make a process faster (they share its thread); it is how a rebalance between
     * instances is exercised and measured on one machine.
     */
    LEDGER_SINK_INSTANCES: envInt(1, 1, 16),
    /** How long a batch waits for other partitions' batches to share its insert. */
    LEDGER_SINK_LINGER_MS: envInt(20, 0, 10_000),
    LEDGER_SINK_MAX_INSERT_ROWS: envInt(50_000, 1),
    /**
     * Inserts into one table start at least this far apart (a full insert excepted): a part per
     * insert, in the table and in each materialized view's, and every part merged later; the
     * LangSmith API's smaller requests would otherwise make many small parts. Longer helps the
     * LangSmith path and hurts `POST /v1/events` (longer cycles meet the lag bound sooner): the
     * trade-off is measured in docs/performance.md.
     */
    LEDGER_SINK_MIN_INSERT_INTERVAL_MS: envInt(250, 0, 10_000),
    /**
     * The same for `runs_v1`, which no materialized view reads, so a part costs less there; and
     * the runs topic's lag bound is small (bytes, not messages), so the time a batch of runs
     * waits limits how fast ingest may go.
     */
    LEDGER_SINK_RUN_MIN_INSERT_INTERVAL_MS: envInt(250, 0, 10_000),
    /**
     * How often runs of upgraded traces are given their 400-day copies (§9). Each pass reads the
     * runs of the traces upgraded in its window, wherever they are in `runs_v1`, so frequent passes
     * cost the engine more than the copies need. Runs stay at least a day after
     * they arrive, so a pass coming late still finds them.
     */
    LEDGER_SINK_RUN_RETENTION_MS: envInt(30_000, 100, 3_600_000),
    /**
     * A pass looks only at rows written at least this long ago, so that no insert still under
     * way when it reads can have a row in its window (an insert's `ingested_at` is taken when
     * it starts): inserts must take less than this. Runs of an upgraded trace get their copy
     * this much (plus up to an interval) after the upgrade; until then they are served by their
     * base expiry, at least 14 days ahead.
     */
    LEDGER_SINK_RUN_RETENTION_SETTLE_MS: envInt(60_000, 0, 3_600_000),
  })
  .transform((e) => ({
    instances: e.LEDGER_SINK_INSTANCES,
    concurrency: e.LEDGER_SINK_CONCURRENCY,
    lingerMs: e.LEDGER_SINK_LINGER_MS,
    maxInsertRows: e.LEDGER_SINK_MAX_INSERT_ROWS,
    minInsertIntervalMs: e.LEDGER_SINK_MIN_INSERT_INTERVAL_MS,
    minRunInsertIntervalMs: e.LEDGER_SINK_RUN_MIN_INSERT_INTERVAL_MS,
    runRetentionMs: e.LEDGER_SINK_RUN_RETENTION_MS,
    runRetentionSettleMs: e.LEDGER_SINK_RUN_RETENTION_SETTLE_MS,
  }));

export type SinkConfig = z.output<typeof sinkConfigSchema>;
export const sinkConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(sinkConfigSchema, env);
