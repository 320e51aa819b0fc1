import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { alertRequest, catalogueVersionInput, identifier, periodKey, problemsOf } from "@ledger/events";
import { alertRuleOf, microsOfUsd } from "@ledger/billing";
import type { Authenticator } from "../../auth/authentication";
import type { LedgerBackend } from "../../backend/contract";
import { bodyObject, fieldSentences } from "../../http/json-text";
import { described } from "../../http/operation";
import { queryParameters } from "../../http/query-parameters";
import { RequestError } from "../../http/request-error";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

export interface BillingAdminOptions {
  auth: Authenticator;
  backend: Pick<LedgerBackend, "catalogue" | "addCatalogueVersion" | "exportPeriod" | "closePeriod" | "webhooks" | "resendWebhook" | "seatHolders" | "setAlert" | "alerts">;
}

// `ledger export`: a closed period's invoice lines or usage, as ClickHouse writes them.
const exportQuery = z.strictObject({
  dataset: z.enum(["invoice_lines", "usage"], { error: "must be invoice_lines or usage" }).default("invoice_lines"),
  format: z.enum(["csv", "parquet"], { error: "must be csv or parquet" }).default("csv"),
});
const closeBody = z.strictObject({ wait: z.boolean({ error: "must be true or false" }).default(false) });
const periodPath = z.object({ period: periodKey });
const orgPath = z.object({ org: identifier });
const anyJson = z.record(z.string(), z.unknown());
// Invoice ids hold '/' (monthly/2024-06/acme): they travel in the query and the body, not the path.
// An alert's id (§6.6) is delivered the same way: alert/<org>/<alert_id>/<period>/<threshold>.
const DELIVERY_ID = /^(((monthly|annual_commitment)\/\d{4}-\d{2}|seats\/\d{4}-\d{2}-\d{2})\/[A-Za-z0-9._:-]{1,128}|alert\/[A-Za-z0-9._:-]{1,128}\/(spend|workspace:[A-Za-z0-9._:-]{1,128}:(all_traces|extended_traces))\/\d{4}-\d{2}\/\d{1,4})$/;
const invoiceId = z
  .string({ error: "must be an invoice id such as monthly/2024-06/acme or seats/2024-06-16/acme, or an alert's id" })
  .regex(DELIVERY_ID, { error: "must be an invoice id such as monthly/2024-06/acme or seats/2024-06-16/acme, or an alert's id" });
const webhooksQuery = z.strictObject({
  invoice_id: invoiceId.optional(),
  limit: z.coerce.number({ error: "must be a whole number from 1 to 1000" }).int({ error: "must be a whole number from 1 to 1000" }).min(1, { error: "must be a whole number from 1 to 1000" }).max(1000, { error: "must be a whole number from 1 to 1000" }).default(200),
  before: z.string().max(500, { error: "must be the next of an earlier page" }).optional(),
});
const resendBody = z.strictObject({ invoice_id: invoiceId });

/**
 * The price catalogue (§10.1; a version for a closed period is refused, 409), exports of closed
 * periods, and `POST /v1/admin/periods/{period}/close` (`ledger close`): the platform key only.
 */
export async function billingAdminRoutes(app: FastifyInstance, o: BillingAdminOptions): Promise<void> {
  app.get(
    "/v1/admin/catalogue",
    described({ summary: "The price catalogue's versions", tag: "admin", auth: "platform", answers: { 200: { description: "every version, oldest first", schema: anyJson } } }),
    async (req: Req) => {
    await o.auth.platform(req, "the price catalogue takes the platform key");
    return o.backend.catalogue();
    },
  );
  app.post(
    "/v1/admin/catalogue",
    described({
      summary: "Add a catalogue version (§10.1)",
      description: "Prices from its first period on; a version for a closed period is refused (409, naming the first open one).",
      tag: "admin",
      auth: "platform",
      body: { schema: catalogueVersionInput, contentTypes: ["application/json"] },
      answers: { 201: { description: "the version as recorded", schema: anyJson } },
      refusals: [409, 503],
    }),
    async (req: Req, reply) => {
    await o.auth.platform(req, "the price catalogue takes the platform key");
    const body = catalogueVersionInput.safeParse(bodyObject(req.body));
    if (!body.success) {
      const problems = problemsOf(body.error);
      throw new RequestError(400, { error: `invalid catalogue version; nothing was changed: ${problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`, problems });
    }
    return reply.code(201).send(await o.backend.addCatalogueVersion(body.data));
    },
  );

  app.get(
    "/v1/admin/export/:period",
    described({
      summary: "Export a closed period's invoice lines or usage",
      tag: "admin",
      auth: "platform",
      params: periodPath,
      query: exportQuery,
      answers: { 200: { description: "CSV with names (text/csv) or Parquet (application/vnd.apache.parquet), as ClickHouse writes them", schema: z.string(), contentType: "text/csv" } },
      refusals: [409, 503],
    }),
    async (req: Req, reply) => {
    await o.auth.platform(req, "exports take the platform key");
    const q = queryParameters(exportQuery, req.query, "this export");
    const bytes = await o.backend.exportPeriod(req.params.period!, q.dataset, q.format === "csv" ? "CSVWithNames" : "Parquet");
    return reply.header("content-type", q.format === "csv" ? "text/csv; charset=utf-8" : "application/vnd.apache.parquet").send(Buffer.from(bytes));
    },
  );

  app.get(
    "/v1/admin/orgs/:org/seats",
    described({
      summary: "The users with a seat in an organization now",
      description: "Their latest seat event in log order is an addition, as ClickHouse knows it (for ledger ingest replicas' G2 check).",
      tag: "admin",
      auth: "platform",
      params: orgPath,
      answers: { 200: { description: "the users", schema: z.object({ org_id: z.string(), users: z.array(z.string()) }) } },
      refusals: [503],
    }),
    async (req: Req) => {
      await o.auth.platform(req, "seat holders take the platform key");
      const org = orgPath.parse(req.params).org;
      return { org_id: org, users: await o.backend.seatHolders(org) };
    },
  );

  app.get(
    "/v1/admin/webhooks",
    described({
      summary: "Invoice deliveries to the webhook (IE3)",
      description: "Newest first, `limit` (default 200, at most 1,000) a page, `next` the cursor to pass as `before` for the page after (null after the last); or one invoice's: its round, status (queued, retrying, delivered, failed), attempts, the last answer and when the next attempt is due.",
      tag: "admin",
      auth: "platform",
      query: webhooksQuery,
      answers: { 200: { description: "the deliveries", schema: anyJson } },
      refusals: [503],
    }),
    async (req: Req) => {
      await o.auth.platform(req, "the webhook's deliveries take the platform key");
      const q = queryParameters(webhooksQuery, req.query, "/v1/admin/webhooks");
      return o.backend.webhooks({ ...(q.invoice_id !== undefined ? { invoice_id: q.invoice_id } : {}), limit: q.limit, ...(q.before !== undefined ? { before: q.before } : {}) });
    },
  );
  app.post(
    "/v1/admin/webhooks/resend",
    described({
      summary: "Deliver an invoice to the webhook again (IE3)",
      description: "A new delivery round of the body first queued, attempted at once and retried like the first.",
      tag: "admin",
      auth: "platform",
      body: { schema: resendBody, contentTypes: ["application/json"], example: { invoice_id: "monthly/2024-06/acme" } },
      answers: { 202: { description: "the new round, queued", schema: anyJson } },
      refusals: [404, 503],
    }),
    async (req: Req, reply) => {
      await o.auth.platform(req, "resending to the webhook takes the platform key");
      const body = resendBody.safeParse(bodyObject(req.body));
      if (!body.success) throw new RequestError(400, { error: `bad body; nothing was queued: ${fieldSentences(body.error.issues)}` });
      return reply.code(202).send(await o.backend.resendWebhook(body.data.invoice_id));
    },
  );

  app.put(
    "/v1/admin/orgs/:org/alerts",
    described({
      summary: "Set a threshold alert (§6.6)",
      description:
        "A workspace's limit (workspace_id and limit) or the month's cost (spend_usd), and the percentages to alert at: each crossing is published once per period as usage-threshold-crossed on the alerts topic and to the webhook. Setting a rule again replaces it.",
      tag: "admin",
      auth: "platform",
      params: orgPath,
      body: { schema: alertRequest, contentTypes: ["application/json"], example: { workspace_id: "prod", limit: "all_traces", at: [50, 80, 100] } },
      answers: { 200: { description: "the rule as set", schema: anyJson } },
      refusals: [503],
    }),
    async (req: Req) => {
      await o.auth.platform(req, "alerts take the platform key");
      const org = orgPath.parse(req.params).org;
      const body = alertRequest.safeParse(bodyObject(req.body));
      if (!body.success) {
        const problems = problemsOf(body.error);
        throw new RequestError(400, { error: `invalid alert; nothing was changed: ${problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`, problems });
      }
      return o.backend.setAlert(alertRuleOf(org, body.data, microsOfUsd));
    },
  );

  app.get(
    "/v1/admin/orgs/:org/alerts",
    described({
      summary: "An organization's alert rules and the crossings announced (§6.6)",
      tag: "admin",
      auth: "platform",
      params: orgPath,
      answers: { 200: { description: "the rules and every usage-threshold-crossed event published", schema: anyJson } },
      refusals: [503],
    }),
    async (req: Req) => {
      await o.auth.platform(req, "alerts take the platform key");
      const org = orgPath.parse(req.params).org;
      return { org_id: org, ...(await o.backend.alerts(org)) };
    },
  );

  app.post(
    "/v1/admin/periods/:period/close",
    described({
      summary: "Close a period (and every earlier one)",
      description: "Publishes the period's marker; with wait, answers once the invoices are final.",
      tag: "admin",
      auth: "platform",
      params: periodPath,
      body: { schema: closeBody, contentTypes: ["application/json"], example: { wait: true }, required: false },
      answers: { 200: { description: "the close as published (and, with wait, done)", schema: anyJson } },
      refusals: [409, 503],
    }),
    async (req: Req) => {
    await o.auth.platform(req, "closing a period takes the platform key");
    const body = closeBody.safeParse(bodyObject(req.body));
    if (!body.success) throw new RequestError(400, { error: `bad body: ${fieldSentences(body.error.issues)}` });
    return o.backend.closePeriod(req.params.period!, body.data.wait);
    },
  );
}
