import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { invoiceCsv, isPeriodKey, type CatalogueVersionJson, type InvoiceDocument, type InvoiceLineJson } from "@ledger/billing";
import { catalogueVersionInput, identifier, problemsOf, type CatalogueVersionInput } from "@ledger/events";
import { AccessError, authorizeOrg, type Principal } from "./authentication";
import { RequestError } from "./request-error";
import { admitRead } from "./read-admission";
import { bodyObject } from "./admin-api";
import type { IngestDeps } from "./server";

/** An answer from the process that owns ClickHouse: crossing a thread or a replica, a refusal keeps its status. */
export type HostAnswer<T> = { ok: true; value: T } | { ok: false; status: 400 | 404 | 409; error: string };

export interface ClosedPeriod {
  period: string;
  partitions: number;
  /** Whether its invoices were final when answered (asked with `wait`). */
  final: boolean;
}

/** Invoices and period close (§10), from the process that owns ClickHouse and the invoicer. */
export interface InvoiceHost {
  invoice: (org: string, period: string) => Promise<HostAnswer<InvoiceDocument>>;
  /** The periods an organization has an invoice for, latest first (the usage page's list). */
  periods: (org: string) => Promise<HostAnswer<OrgPeriod[]>>;
  closePeriod: (period: string, wait: boolean) => Promise<HostAnswer<ClosedPeriod>>;
  lineSources: (org: string, period: string, n: number) => Promise<HostAnswer<LineSources>>;
  catalogue: () => Promise<HostAnswer<CatalogueVersionJson[]>>;
  exportPeriod: (period: string, dataset: "invoice_lines" | "usage", format: "CSVWithNames" | "Parquet") => Promise<HostAnswer<Uint8Array>>;
  addCatalogueVersion: (version: CatalogueVersionInput) => Promise<HostAnswer<CatalogueVersionJson>>;
}

export interface OrgPeriod {
  period: string;
  status: "open" | "closed";
}

/** An invoice line (without its status) and the ledger rows behind it. */
export interface LineSources {
  line: Omit<InvoiceLineJson, "status">;
  sources: Record<string, unknown>[];
}

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

/** An organization named in a path: an identifier, or a 400 saying why not. */
const orgInPath = (org: string) => {
  const check = identifier.safeParse(org);
  if (!check.success) throw new RequestError(400, { error: `organization ${JSON.stringify(org)} in the path ${check.error.issues[0]!.message}` });
};

const answer = <T>(reply: FastifyReply, a: HostAnswer<T>) => (a.ok ? a.value : reply.code(a.status).send({ error: a.error }));

/**
 * `GET /v1/invoices/{org}/{period}` (a key of that organization, or the platform key): the final
 * invoice of a closed period, or the preview of an open one (C5). `POST
 * /v1/admin/periods/{period}/close` (platform key): `ledger close`.
 */
export function registerInvoiceRoutes(app: FastifyInstance, deps: IngestDeps, principalOf: (req: Req) => Promise<Principal>): void {
  /** Authenticates, checks the path and the organization, counts the request; null when refused (answered). */
  const admitted = async (req: Req, reply: FastifyReply): Promise<{ org: string; period: string } | null> => {
    const principal = await principalOf(req);
    const { org, period } = req.params as { org: string; period: string };
    orgInPath(org);
    if (!isPeriodKey(period)) throw new RequestError(400, { error: `period ${JSON.stringify(period)} in the path must be a billing period YYYY-MM` });
    authorizeOrg(principal, org);
    return (await admitRead(deps, principal, req, reply)) ? { org, period } : null;
  };

  // ?format=csv: the same document as CSV, for the usage page's download and spreadsheets.
  const invoiceQuery = z.strictObject({ format: z.enum(["json", "csv"], { error: "must be json or csv" }).default("json") });
  app.get("/v1/invoices/:org/:period", async (req: Req, reply) => {
    const q = invoiceQuery.safeParse(req.query);
    if (!q.success) throw new RequestError(400, { error: `bad query parameters: ${q.error.issues.map((i) => (i.code === "unrecognized_keys" ? `${i.keys.join(", ")} is not a parameter of an invoice` : `${i.path.join(".")} ${i.message}`)).join("; ")}` });
    const ok = await admitted(req, reply);
    if (!ok) return reply;
    const a = await deps.invoices.invoice(ok.org, ok.period);
    if (!a.ok || q.data.format === "json") return answer(reply, a);
    return reply
      .header("content-type", "text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="invoice-${ok.org}-${ok.period}.csv"`)
      .send(invoiceCsv(a.value));
  });

  // The periods an organization has an invoice for (closed: final; open: a preview).
  app.get("/v1/invoices/:org", async (req: Req, reply) => {
    const principal = await principalOf(req);
    const { org } = req.params as { org: string };
    orgInPath(org);
    authorizeOrg(principal, org);
    if (!(await admitRead(deps, principal, req, reply))) return reply;
    const a = await deps.invoices.periods(org);
    return a.ok ? { org_id: org, periods: a.value } : answer(reply, a);
  });

  app.get("/v1/invoices/:org/:period/lines/:n/sources", async (req: Req, reply) => {
    const ok = await admitted(req, reply);
    if (!ok) return reply;
    const n = (req.params as { n: string }).n;
    if (!/^[1-9]\d{0,5}$/.test(n)) throw new RequestError(400, { error: `line ${JSON.stringify(n)} in the path must be a line number (1 for the first line)` });
    return answer(reply, await deps.invoices.lineSources(ok.org, ok.period, Number(n)));
  });

  // The price catalogue (§10.1): read by anyone with the platform key; a version for a closed
  // period is refused (409).
  app.get("/v1/admin/catalogue", async (req: Req, reply) => {
    const principal = await principalOf(req);
    if (principal.kind !== "platform") throw new AccessError(403, "the price catalogue takes the platform key");
    return answer(reply, await deps.invoices.catalogue());
  });
  app.post("/v1/admin/catalogue", async (req: Req, reply) => {
    const principal = await principalOf(req);
    if (principal.kind !== "platform") throw new AccessError(403, "the price catalogue takes the platform key");
    const body = catalogueVersionInput.safeParse(bodyObject(req.body));
    if (!body.success) {
      const problems = problemsOf(body.error);
      throw new RequestError(400, { error: `invalid catalogue version; nothing was changed: ${problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`, problems });
    }
    const added = await deps.invoices.addCatalogueVersion(body.data);
    return added.ok ? reply.code(201).send(added.value) : answer(reply, added);
  });

  // `ledger export`: a closed period's invoice lines or usage, as ClickHouse writes them.
  const exportQuery = z.strictObject({
    dataset: z.enum(["invoice_lines", "usage"], { error: "must be invoice_lines or usage" }).default("invoice_lines"),
    format: z.enum(["csv", "parquet"], { error: "must be csv or parquet" }).default("csv"),
  });
  app.get("/v1/admin/export/:period", async (req: Req, reply) => {
    const principal = await principalOf(req);
    if (principal.kind !== "platform") throw new AccessError(403, "exports take the platform key");
    const q = exportQuery.safeParse(req.query);
    if (!q.success) throw new RequestError(400, { error: `bad query parameters: ${q.error.issues.map((i) => (i.code === "unrecognized_keys" ? `${i.keys.join(", ")} is not a parameter of this export` : `${i.path.join(".")} ${i.message}`)).join("; ")}` });
    const a = await deps.invoices.exportPeriod((req.params as { period: string }).period, q.data.dataset, q.data.format === "csv" ? "CSVWithNames" : "Parquet");
    if (!a.ok) return answer(reply, a);
    return reply.header("content-type", q.data.format === "csv" ? "text/csv; charset=utf-8" : "application/vnd.apache.parquet").send(Buffer.from(a.value));
  });

  const closeBody = z.strictObject({ wait: z.boolean({ error: "must be true or false" }).default(false) });
  app.post("/v1/admin/periods/:period/close", async (req: Req, reply) => {
    const principal = await principalOf(req);
    if (principal.kind !== "platform") throw new AccessError(403, "closing a period takes the platform key");
    const { period } = req.params as { period: string };
    const body = closeBody.safeParse(bodyObject(req.body));
    if (!body.success) throw new RequestError(400, { error: `bad body: ${body.error.issues.map((i) => `${i.path.join(".") || "body"} ${i.message}`).join("; ")}` });
    return answer(reply, await deps.invoices.closePeriod(period, body.data.wait));
  });
}
