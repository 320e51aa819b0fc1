import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { invoiceCsv, isDayKey } from "@ledger/billing";
import { identifier, periodKey } from "@ledger/events";
import type { Clock } from "@ledger/limits";
import { authorizeOrg, type Authenticator } from "../auth/authentication";
import type { LedgerBackend } from "../backend/contract";
import type { Admission } from "../intake/admission";
import { admitRead } from "../intake/read-admission";
import { described } from "../http/operation";
import { queryParameters } from "../http/query-parameters";
import { RequestError } from "../http/request-error";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

export interface InvoiceRoutesOptions {
  auth: Authenticator;
  admission: Admission;
  clock: Clock;
  backend: Pick<LedgerBackend, "invoice" | "invoiceIndex" | "lineSources" | "credits">;
}

/** An organization named in a path: an identifier, or a 400 saying why not. */
export const orgInPath = (org: string) => {
  const check = identifier.safeParse(org);
  if (!check.success) throw new RequestError(400, { error: `organization ${JSON.stringify(org)} in the path ${check.error.issues[0]!.message}` });
};

// ?format=csv: the same document as CSV, for the usage page's download and spreadsheets.
const invoiceQuery = z.strictObject({ format: z.enum(["json", "csv"], { error: "must be json or csv" }).default("json") });
const noQuery = z.strictObject({});
const orgPath = z.object({ org: identifier });
// A period names a monthly invoice; a day (YYYY-MM-DD) names that day's seat invoice (SA2).
const invoiceKey = z
  .string()
  .refine((v) => periodKey.safeParse(v).success || isDayKey(v), { error: "must be a billing period YYYY-MM or a seat invoice's day YYYY-MM-DD" })
  .meta({ description: "a billing period YYYY-MM (the monthly invoice) or a day YYYY-MM-DD (that day's seat invoice)", examples: ["2024-06", "2024-06-16"] });
const invoicePath = z.object({ org: identifier, period: invoiceKey });
const linePath = invoicePath.extend({ n: z.string().regex(/^[1-9]\d{0,5}$/).meta({ description: "the line's number, 1 for the first" }) });
const document = z.record(z.string(), z.unknown());

/**
 * `GET /v1/invoices/{org}…` (a key of that organization, or the platform key): the final invoice
 * of a closed period or the preview of an open one (C5), the periods an organization has, and
 * the ledger rows behind a line.
 */
export async function invoiceRoutes(app: FastifyInstance, o: InvoiceRoutesOptions): Promise<void> {
  /** Authenticates, checks the path and the organization, counts the request; null when refused (answered). */
  const admitted = async (req: Req, reply: FastifyReply, withPeriod: boolean): Promise<{ org: string; period: string } | null> => {
    const principal = await o.auth.principalOf(req);
    const { org, period } = req.params as { org: string; period: string };
    orgInPath(org);
    if (withPeriod && !invoiceKey.safeParse(period).success) throw new RequestError(400, { error: `period ${JSON.stringify(period)} in the path must be a billing period YYYY-MM or a seat invoice's day YYYY-MM-DD` });
    authorizeOrg(principal, org);
    return (await admitRead(o, principal, req, reply)) ? { org, period } : null;
  };

  app.get(
    "/v1/invoices/:org/:period",
    described({
      summary: "An invoice: final for a closed period, a preview for an open one (C5); a day's seat invoice (SA2)",
      tag: "invoices",
      auth: "org-key-or-platform",
      params: invoicePath,
      query: invoiceQuery,
      answers: { 200: { description: "the invoice as JSON (or as CSV with ?format=csv, text/csv)", schema: document } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
    const q = queryParameters(invoiceQuery, req.query, "an invoice");
    const ok = await admitted(req, reply, true);
    if (!ok) return reply;
    const doc = await o.backend.invoice(ok.org, ok.period);
    if (q.format === "json") return doc;
    return reply
      .header("content-type", "text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="invoice-${ok.org}-${ok.period}.csv"`)
      .send(invoiceCsv(doc));
    },
  );

  // Every invoice of an organization (closed: final; open: a preview), and its periods.
  app.get(
    "/v1/invoices/:org",
    described({
      summary: "An organization's invoices: each period's and each annual invoice, with kind, issue time, status and amount due",
      tag: "invoices",
      auth: "org-key-or-platform",
      params: orgPath,
      query: noQuery,
      answers: { 200: { description: "each period (final or preview) and every invoice, latest first", schema: z.object({ org_id: z.string(), periods: z.array(z.unknown()), invoices: z.array(z.unknown()) }) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      queryParameters(noQuery, req.query, "/v1/invoices/{org}");
      const ok = await admitted(req, reply, false);
      return ok ? { org_id: ok.org, ...(await o.backend.invoiceIndex(ok.org)) } : reply;
    },
  );

  app.get(
    "/v1/credits/:org",
    described({
      summary: "An organization's credit grants and their balances (CR5), and an Enterprise commitment's burndown (AC3)",
      description:
        "Each grant's amount, period window, what final invoices consumed, what remains and what a void took away; granted = consumed + remaining + voided. An organization with annual invoices also gets `commitment` (the current term year: committed, consumed, remaining, months left, the last 30 days' rate and the period it runs out in at that rate) and `annual_invoices`.",
      tag: "invoices",
      auth: "org-key-or-platform",
      params: orgPath,
      query: noQuery,
      answers: { 200: { description: "the grants, in the order invoices use them, and the totals", schema: document } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      queryParameters(noQuery, req.query, "/v1/credits/{org}");
      const ok = await admitted(req, reply, false);
      return ok ? o.backend.credits(ok.org) : reply;
    },
  );

  app.get(
    "/v1/invoices/:org/:period/lines/:n/sources",
    described({
      summary: "The ledger rows behind an invoice's line",
      tag: "invoices",
      auth: "org-key-or-platform",
      params: linePath,
      query: noQuery,
      answers: { 200: { description: "the line and the rows it was counted from", schema: document } },
      refusals: [404, 429, 503],
    }),
    async (req: Req, reply) => {
    queryParameters(noQuery, req.query, "a line's sources");
    const ok = await admitted(req, reply, true);
    if (!ok) return reply;
    const n = (req.params as { n: string }).n;
    if (!linePath.shape.n.safeParse(n).success) throw new RequestError(400, { error: `line ${JSON.stringify(n)} in the path must be a line number (1 for the first line)` });
    return o.backend.lineSources(ok.org, ok.period, Number(n));
    },
  );
}
