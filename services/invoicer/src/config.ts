import { z } from "zod";
import { envInt, parseEnv } from "@ledger/config";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "3d", "12h", "90m", "off": how long after a period ends the ledger closes it by itself (C1). */
export const closeGrace = z
  .string()
  .default("3d")
  .transform((text, ctx) => {
    if (text === "off") return null;
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
    if (!m) {
      ctx.addIssue({ code: "custom", message: 'must be a duration such as "3d", "12h", "30m" or "off"' });
      return z.NEVER;
    }
    return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  });

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
