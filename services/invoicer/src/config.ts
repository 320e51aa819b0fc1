import { z } from "zod";
import { envDuration, envInt, parseEnv } from "@ledger/config";

/** "3d", "12h", "90m", "off": how long after a period ends the ledger closes it by itself (C1). */
export const closeGrace = envDuration("3d", { off: true });

export const invoicerConfigSchema = z
  .object({
    /** After the end of a period, how long late events still count as in time; "off": only `ledger close` and replay logs close. */
    LEDGER_CLOSE_GRACE: closeGrace,
    /** How often the ledger looks for a period to close and for closed periods to freeze. */
    LEDGER_INVOICER_INTERVAL_MS: envInt(1_000, 50, 3_600_000),
  })
  .transform((e) => ({ closeGraceMs: e.LEDGER_CLOSE_GRACE, intervalMs: e.LEDGER_INVOICER_INTERVAL_MS }));

export type InvoicerConfig = z.output<typeof invoicerConfigSchema>;
export const invoicerConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(invoicerConfigSchema, env);
