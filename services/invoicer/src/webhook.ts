import { createHmac } from "node:crypto";
import { Counter, type Registry } from "prom-client";
import { recordWebhookAttempt, webhookBody, webhookStates, type LedgerClickHouse, type WebhookAttempt, type WebhookDeliveryState } from "@ledger/clickhouse";
import { NotLeaderError, Repeater, type Leadership } from "@ledger/batching";

/**
 * The invoice webhook (spec §10.6, IE3): every `invoice-issued` the invoicer announces, POSTed
 * to one URL with an HMAC signature, retried with exponential backoff, each attempt recorded in
 * ClickHouse. Delivery is at least once and always of the body first queued, so a receiver
 * deduplicates by `invoice_id` and can verify every copy with the same secret.
 */
export interface WebhookConfig {
  url: string;
  secret: string;
  timeoutMs: number;
  /** The wait after the first failed attempt; each later one doubles it, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** How long after a round is queued attempts go on (at least 24 h). */
  retryForMs: number;
  intervalMs: number;
}

/** The header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  return `t=${unixSeconds},v1=${createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex")}`;
}

export const SIGNATURE_HEADER = "ledger-signature";

/**
 * When attempt `failed + 1` is due after `failed` failures, the last at `lastAtMs`: the backoff
 * doubles from `backoffMs` up to `maxBackoffMs`. Null when that is past the retry window.
 */
export function nextAttemptAt(c: Pick<WebhookConfig, "backoffMs" | "maxBackoffMs" | "retryForMs">, queuedAtMs: number, failed: number, lastAtMs: number): number | null {
  const wait = Math.min(c.maxBackoffMs, c.backoffMs * 2 ** Math.min(failed - 1, 40));
  const at = lastAtMs + wait;
  return at > queuedAtMs + c.retryForMs ? null : at;
}

export interface WebhookSenderDeps {
  clickhouse: LedgerClickHouse;
  config: WebhookConfig;
  now: () => number;
  log: (line: string) => void;
  leadership: Leadership;
  registry: Registry;
}

/** Attempts what is due, a few at a time, on its own schedule (a slow receiver never delays a close). */
export class WebhookSender {
  private readonly repeater: Repeater;
  private readonly attempts: Counter<"outcome">;
  private readonly inFlight = new AbortController();

  constructor(private readonly deps: WebhookSenderDeps) {
    this.attempts = new Counter({ name: "ledger_webhook_attempts_total", help: "Invoice webhook attempts, by outcome", labelNames: ["outcome"], registers: [deps.registry] });
    this.repeater = new Repeater(deps.config.intervalMs, () => (deps.leadership.leads() ? this.pass() : Promise.resolve()));
  }

  start(): void {
    this.repeater.start();
  }

  /** Stops; an attempt in flight is abandoned unrecorded, so it is made again later (at least once). */
  async stop(): Promise<void> {
    this.inFlight.abort();
    await this.repeater.stop();
  }

  async pass(): Promise<void> {
    try {
      const due = await webhookStates(this.deps.clickhouse, { dueBy: this.deps.now(), limit: 8 });
      await Promise.all(due.map((d) => this.attempt(d)));
    } catch (error) {
      if (error instanceof NotLeaderError || this.inFlight.signal.aborted) return;
      this.deps.log(`invoicer: webhook pass failed (retried): ${(error as Error).message}`);
    }
  }

  private async attempt(d: WebhookDeliveryState): Promise<void> {
    const { config, clickhouse, now } = this.deps;
    const body = await webhookBody(clickhouse, d.invoiceId, d.round);
    if (body === null) return;
    await this.deps.leadership.confirm();
    const startedMs = now();
    const started = performance.now();
    const n = d.attempts + 1;
    let status = 0;
    let outcome: WebhookAttempt["outcome"];
    let error = "";
    try {
      const res = await fetch(config.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: webhookSignature(config.secret, Math.floor(startedMs / 1000), body),
          "ledger-invoice-id": d.invoiceId,
          "ledger-delivery-attempt": String(n),
        },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(config.timeoutMs), this.inFlight.signal]),
      });
      status = res.status;
      outcome = res.ok ? "delivered" : "refused";
      if (!res.ok) error = (await res.text().catch(() => "")).slice(0, 300);
      else await res.body?.cancel();
    } catch (e) {
      if (this.inFlight.signal.aborted) return;
      const err = e as Error & { cause?: { code?: string; message?: string } };
      outcome = err.name === "TimeoutError" ? "timeout" : "unreachable";
      error = outcome === "timeout" ? `no answer within ${config.timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
    }
    const durationMs = Math.round(performance.now() - started);
    const nextAtMs = outcome === "delivered" ? null : nextAttemptAt(config, d.queuedAtMs, n, startedMs);
    await recordWebhookAttempt(clickhouse, { invoiceId: d.invoiceId, round: d.round, attempt: n, atMs: startedMs, status, outcome, error, durationMs, nextAtMs });
    this.attempts.inc({ outcome });
    if (outcome !== "delivered") {
      const next = nextAtMs === null ? "no further attempt (ledger webhooks resend to try again)" : `next at ${new Date(nextAtMs).toISOString()}`;
      this.deps.log(`invoicer: webhook ${d.invoiceId} attempt ${n}: ${outcome}${status ? ` ${status}` : ""}${error ? ` (${error})` : ""}; ${next}`);
    }
  }
}
