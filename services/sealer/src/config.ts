import { z } from "zod";
import { envDuration, envInt, parseEnv } from "@ledger/config";

export const sealerConfigSchema = z
  .object({
    /**
     * How long an hour of traces must go without a new row before its counts are sealed. Longer than any
     * insert takes, twice over: a seal is dated half this before its round, so a row whose insert
     * was under way still makes its hour count raw (see Sealer).
     */
    LEDGER_SEAL_QUIET: envDuration("2m"),
    /** How often the sealer looks for quiet unsealed hours. */
    LEDGER_SEALER_INTERVAL_MS: envInt(10_000, 50, 3_600_000),
    /** Hours sealed per ClickHouse statement (a round repeats until none is left). */
    LEDGER_SEAL_BATCH_HOURS: envInt(20_000, 1, 10_000_000),
  })
  .transform((e) => ({ quietMs: e.LEDGER_SEAL_QUIET as number, intervalMs: e.LEDGER_SEALER_INTERVAL_MS, batchHours: e.LEDGER_SEAL_BATCH_HOURS }));

export type SealerConfig = z.output<typeof sealerConfigSchema>;
export const sealerConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(sealerConfigSchema, env);
