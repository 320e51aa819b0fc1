import { z } from "zod";
import { envDuration, envInt, envString, parseEnv } from "@ledger/config";
import type { WebhookConfig } from "./webhook";

/** "3d", "12h", "90m", "off": how long after a period ends the ledger closes it by itself (C1). */
export const closeGrace = envDuration("3d", { off: true });

const DAY_MS = 86_400_000;

export const invoicerConfigSchema = z
  .object({
    /** After the end of a period, how long late events still count as in time; "off": only `ledger close` and replay logs close. */
    LEDGER_CLOSE_GRACE: closeGrace,
    /** SA2: a day's seat invoice is issued once the day has ended plus this settle time. */
    LEDGER_SEAT_INVOICE_DELAY: envDuration("1h"),
    /** How often the ledger looks for a period to close and for closed periods to freeze. */
    LEDGER_INVOICER_INTERVAL_MS: envInt(1_000, 50, 3_600_000),
    /** Where every `invoice-issued` is also POSTed (IE3); unset: no webhook. */
    LEDGER_WEBHOOK_URL: envString().pipe(z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional()),
    /** The HMAC-SHA256 key of the webhook's signature header; required with the URL. */
    LEDGER_WEBHOOK_SECRET: envString().pipe(z.string().min(16, { error: "must be at least 16 characters" }).optional()),
    /** How long one attempt waits for the receiver's answer. */
    LEDGER_WEBHOOK_TIMEOUT: envDuration("10s"),
    /** The wait after the first failed attempt; it doubles after each further failure, up to the maximum. */
    LEDGER_WEBHOOK_BACKOFF: envDuration("30s"),
    LEDGER_WEBHOOK_MAX_BACKOFF: envDuration("1h"),
    /** How long attempts go on after an invoice is queued (at least a day). */
    LEDGER_WEBHOOK_RETRY_FOR: envDuration("3d").refine((ms) => ms !== null && ms >= DAY_MS, { error: "must be at least 24h (invoices are retried for at least a day)" }),
  })
  .superRefine((e, ctx) => {
    if (e.LEDGER_WEBHOOK_URL !== undefined && e.LEDGER_WEBHOOK_SECRET === undefined) {
      ctx.addIssue({ code: "custom", path: ["LEDGER_WEBHOOK_SECRET"], message: "is required with LEDGER_WEBHOOK_URL (every delivery is signed)" });
    }
  })
  .transform((e) => ({
    closeGraceMs: e.LEDGER_CLOSE_GRACE,
    intervalMs: e.LEDGER_INVOICER_INTERVAL_MS,
    seatInvoiceDelayMs: e.LEDGER_SEAT_INVOICE_DELAY!,
    commitmentsByClock: true,
    webhook:
      e.LEDGER_WEBHOOK_URL === undefined
        ? null
        : ({
            url: e.LEDGER_WEBHOOK_URL,
            secret: e.LEDGER_WEBHOOK_SECRET!,
            timeoutMs: e.LEDGER_WEBHOOK_TIMEOUT!,
            backoffMs: e.LEDGER_WEBHOOK_BACKOFF!,
            maxBackoffMs: e.LEDGER_WEBHOOK_MAX_BACKOFF!,
            retryForMs: e.LEDGER_WEBHOOK_RETRY_FOR!,
            intervalMs: Math.min(1_000, e.LEDGER_INVOICER_INTERVAL_MS),
          } satisfies WebhookConfig),
  }));

/**
 * `commitmentsByClock`: annual invoices (AC1) and seat invoices (SA2) issued by the ledger's
 * clock; false where something else keeps the time (a replay issues them by its log's time).
 * `seatInvoiceDelayMs`: SA2's settle time (default 1 h). `webhook`: null without one.
 */
export type InvoicerConfig = Omit<z.output<typeof invoicerConfigSchema>, "commitmentsByClock" | "webhook" | "seatInvoiceDelayMs"> & {
  commitmentsByClock?: boolean;
  seatInvoiceDelayMs?: number;
  /** How often the alert rules are looked at (default 30 s: a crossing is announced within a minute). */
  alertsEveryMs?: number;
  webhook?: WebhookConfig | null;
};
export const invoicerConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(invoicerConfigSchema, env);
