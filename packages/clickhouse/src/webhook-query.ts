import { z } from "zod";
import { dateTime64, type LedgerClickHouse } from "./client";

/**
 * The webhook's outbox and its attempts (spec §10.6, IE3), named queries `webhooks.*`. A
 * delivery round holds the document as first announced; every attempt of a round is a row.
 */

export interface WebhookToQueue {
  invoiceId: string;
  orgId: string;
  /** The `invoice-issued` JSON exactly as published: what every attempt sends. */
  body: string;
}

/** Where an invoice's latest delivery round stands. */
export interface WebhookDeliveryState {
  invoiceId: string;
  orgId: string;
  round: number;
  queuedAtMs: number;
  attempts: number;
  lastAttemptAtMs: number | null;
  lastStatus: number;
  lastOutcome: string;
  lastError: string;
  deliveredAtMs: number | null;
  /** When the next attempt is due (the queue time before any); null once delivered or given up. */
  nextAttemptAtMs: number | null;
}

export interface WebhookAttempt {
  invoiceId: string;
  round: number;
  attempt: number;
  atMs: number;
  /** The receiver's HTTP status; 0 when it gave none (a timeout, a refused connection). */
  status: number;
  outcome: "delivered" | "refused" | "timeout" | "unreachable";
  error: string;
  durationMs: number;
  /** Null: no further attempt (delivered, or the retries are over). */
  nextAtMs: number | null;
}

const queryId = (name: string) => `webhooks.${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;

/** Queues a first round for each invoice not queued before: a document announced again keeps its first body. */
export async function queueWebhooks(ch: LedgerClickHouse, items: readonly WebhookToQueue[], nowMs: number): Promise<number> {
  if (items.length === 0) return 0;
  const rs = await ch.client.query({
    query: `SELECT DISTINCT invoice_id FROM ${ch.table("webhook_deliveries_v1")} WHERE invoice_id IN {ids:Array(String)}`,
    query_params: { ids: items.map((i) => i.invoiceId) },
    format: "JSONEachRow",
    query_id: queryId("queued"),
  });
  const queued = new Set(z.array(z.object({ invoice_id: z.string() })).parse(await rs.json()).map((r) => r.invoice_id));
  const values = items.filter((i) => !queued.has(i.invoiceId)).map((i) => ({ invoice_id: i.invoiceId, org_id: i.orgId, round: 1, body: i.body, queued_at: dateTime64(nowMs) }));
  if (values.length > 0) await ch.client.insert({ table: ch.table("webhook_deliveries_v1"), values, format: "JSONEachRow" });
  return values.length;
}

const stateRow = z.object({
  invoice_id: z.string(),
  org_id: z.string(),
  round: z.coerce.number(),
  queued_ms: z.coerce.number(),
  attempts: z.coerce.number(),
  last_ms: z.coerce.number(),
  last_status: z.coerce.number(),
  last_outcome: z.string(),
  last_error: z.string(),
  delivered: z.coerce.number(),
  delivered_ms: z.coerce.number(),
  next_ms: z.coerce.number().nullable(),
});

/**
 * Each invoice's latest round and its attempts. `dueBy`: only rounds whose next attempt is due by
 * that instant (what a sender attempts); `invoiceId`: one invoice.
 */
export async function webhookStates(
  ch: LedgerClickHouse,
  filter: { dueBy?: number; invoiceId?: string; limit?: number; newestFirst?: boolean; before?: WebhookCursor } = {},
): Promise<WebhookDeliveryState[]> {
  const where: string[] = [];
  if (filter.invoiceId !== undefined) where.push("d.invoice_id = {id:String}");
  if (filter.before !== undefined) where.push("(toUnixTimestamp64Milli(d.latest_queued), d.invoice_id) < ({bq:Int64}, {bi:String})");
  if (filter.dueBy !== undefined) where.push("a.ok = 0 AND (a.tries = 0 OR (a.next_ms IS NOT NULL AND a.next_ms <= {due:Int64}))");
  const rs = await ch.client.query({
    query: `SELECT d.invoice_id AS invoice_id, d.owner AS org_id, d.latest_round AS round, toUnixTimestamp64Milli(d.latest_queued) AS queued_ms,
                   a.tries AS attempts, a.last_ms AS last_ms, a.last_status AS last_status, a.last_outcome AS last_outcome, a.last_error AS last_error,
                   a.ok AS delivered, a.ok_ms AS delivered_ms, a.next_ms AS next_ms
            FROM (SELECT invoice_id, argMax(org_id, round) AS owner, max(round) AS latest_round, argMax(queued_at, round) AS latest_queued
                  FROM ${ch.table("webhook_deliveries_v1")} FINAL GROUP BY invoice_id) AS d
            LEFT JOIN (SELECT invoice_id AS attempted, round AS attempted_round, count() AS tries, toUnixTimestamp64Milli(max(at)) AS last_ms, argMax(status, at) AS last_status,
                              argMax(outcome, at) AS last_outcome, argMax(error, at) AS last_error,
                              countIf(status >= 200 AND status < 300) AS ok, toUnixTimestamp64Milli(minIf(at, status >= 200 AND status < 300)) AS ok_ms,
                              toUnixTimestamp64Milli(argMax(next_at, at)) AS next_ms
                       FROM ${ch.table("webhook_attempts_v1")} FINAL GROUP BY invoice_id, round) AS a
              ON d.invoice_id = a.attempted AND d.latest_round = a.attempted_round
            ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
            ORDER BY queued_ms ${filter.newestFirst ? "DESC" : ""}, invoice_id ${filter.newestFirst ? "DESC" : ""}
            ${filter.limit !== undefined ? `LIMIT ${Math.trunc(filter.limit)}` : ""}`,
    query_params: { id: filter.invoiceId ?? "", due: filter.dueBy ?? 0, bq: filter.before?.queuedAtMs ?? 0, bi: filter.before?.invoiceId ?? "" },
    format: "JSONEachRow",
    query_id: queryId("states"),
  });
  return z
    .array(stateRow)
    .parse(await rs.json())
    .map((r) => ({
      invoiceId: r.invoice_id,
      orgId: r.org_id,
      round: r.round,
      queuedAtMs: r.queued_ms,
      attempts: r.attempts,
      lastAttemptAtMs: r.attempts > 0 ? r.last_ms : null,
      lastStatus: r.last_status,
      lastOutcome: r.last_outcome,
      lastError: r.last_error,
      deliveredAtMs: r.delivered > 0 ? r.delivered_ms : null,
      nextAttemptAtMs: r.delivered > 0 ? null : r.attempts === 0 ? r.queued_ms : r.next_ms,
    }));
}

/** Where a page of deliveries (newest first) ended: the next page holds those queued before it. */
export interface WebhookCursor {
  queuedAtMs: number;
  invoiceId: string;
}

/** A cursor as `GET /v1/admin/webhooks` gives it (`next`) and takes it back (`before`): opaque to clients. */
export function webhookCursorText(c: WebhookCursor): string {
  return `${c.queuedAtMs}.${Buffer.from(c.invoiceId, "utf8").toString("base64url")}`;
}

/** The cursor a `next` named, or null when the text is not one. */
export function webhookCursorOf(text: string): WebhookCursor | null {
  const m = /^(\d{1,16})\.([A-Za-z0-9_-]{1,400})$/.exec(text);
  if (!m) return null;
  const invoiceId = Buffer.from(m[2]!, "base64url").toString("utf8");
  return invoiceId.length > 0 && webhookCursorText({ queuedAtMs: Number(m[1]), invoiceId }) === text ? { queuedAtMs: Number(m[1]), invoiceId } : null;
}

/** A page of `GET /v1/admin/webhooks`: newest first, and the cursor of the next page (null: none). */
export interface WebhookPage {
  deliveries: WebhookDeliveryJson[];
  next: string | null;
}

/** `limit` deliveries queued before `before` (newest first), or one invoice's. */
export async function webhookPage(ch: LedgerClickHouse, q: { invoiceId?: string; limit: number; before?: WebhookCursor }): Promise<WebhookPage> {
  // One more than the page: whether a next page exists, without counting.
  const states = await webhookStates(ch, { ...(q.invoiceId !== undefined ? { invoiceId: q.invoiceId } : {}), ...(q.before ? { before: q.before } : {}), newestFirst: true, limit: q.limit + 1 });
  const page = states.slice(0, q.limit);
  const last = page.at(-1);
  return { deliveries: page.map(webhookDeliveryJson), next: states.length > q.limit && last ? webhookCursorText({ queuedAtMs: last.queuedAtMs, invoiceId: last.invoiceId }) : null };
}

/** The body a round delivers. */
export async function webhookBody(ch: LedgerClickHouse, invoiceId: string, round: number): Promise<string | null> {
  const rs = await ch.client.query({
    query: `SELECT body FROM ${ch.table("webhook_deliveries_v1")} FINAL WHERE invoice_id = {id:String} AND round = {round:UInt32} LIMIT 1`,
    query_params: { id: invoiceId, round },
    format: "JSONEachRow",
    query_id: queryId("body"),
  });
  const [row] = z.array(z.object({ body: z.string() })).parse(await rs.json());
  return row?.body ?? null;
}

export async function recordWebhookAttempt(ch: LedgerClickHouse, a: WebhookAttempt): Promise<void> {
  await ch.client.insert({
    table: ch.table("webhook_attempts_v1"),
    values: [{ invoice_id: a.invoiceId, round: a.round, attempt: a.attempt, at: dateTime64(a.atMs), status: a.status, outcome: a.outcome, error: a.error.slice(0, 1_000), duration_ms: a.durationMs, next_at: a.nextAtMs === null ? null : dateTime64(a.nextAtMs) }],
    format: "JSONEachRow",
  });
}

/**
 * `ledger webhooks resend`: a new round of the invoice's first body, attempted at once. Null when
 * the invoice was never queued for the webhook.
 */
export async function requeueWebhook(ch: LedgerClickHouse, invoiceId: string, nowMs: number): Promise<WebhookDeliveryState | null> {
  const [latest] = await webhookStates(ch, { invoiceId });
  if (!latest) return null;
  const body = await webhookBody(ch, invoiceId, 1);
  const round = latest.round + 1;
  await ch.client.insert({
    table: ch.table("webhook_deliveries_v1"),
    values: [{ invoice_id: invoiceId, org_id: latest.orgId, round, body: body ?? "", queued_at: dateTime64(nowMs) }],
    format: "JSONEachRow",
  });
  return { ...latest, round, queuedAtMs: nowMs, attempts: 0, lastAttemptAtMs: null, lastStatus: 0, lastOutcome: "", lastError: "", deliveredAtMs: null, nextAttemptAtMs: nowMs };
}

/** One invoice's delivery as `GET /v1/admin/webhooks` and `ledger webhooks list` show it. */
export interface WebhookDeliveryJson {
  invoice_id: string;
  org_id: string;
  /** 1, then one more per resend. */
  round: number;
  /** `queued` (no attempt yet), `retrying`, `delivered`, or `failed` (the retries are over: resend it). */
  status: "queued" | "retrying" | "delivered" | "failed";
  attempts: number;
  queued_at: string;
  last_attempt_at: string | null;
  /** The receiver's last HTTP status (0: none, such as a timeout) and what happened. */
  last_status: number | null;
  last_outcome: string | null;
  last_error: string | null;
  delivered_at: string | null;
  next_attempt_at: string | null;
}

export function webhookDeliveryJson(s: WebhookDeliveryState): WebhookDeliveryJson {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const status = s.deliveredAtMs !== null ? "delivered" : s.attempts === 0 ? "queued" : s.nextAttemptAtMs === null ? "failed" : "retrying";
  return {
    invoice_id: s.invoiceId,
    org_id: s.orgId,
    round: s.round,
    status,
    attempts: s.attempts,
    queued_at: iso(s.queuedAtMs)!,
    last_attempt_at: iso(s.lastAttemptAtMs),
    last_status: s.attempts > 0 ? s.lastStatus : null,
    last_outcome: s.attempts > 0 ? s.lastOutcome : null,
    last_error: s.attempts > 0 && s.lastError !== "" ? s.lastError : null,
    delivered_at: iso(s.deliveredAtMs),
    next_attempt_at: iso(s.nextAttemptAtMs),
  };
}
