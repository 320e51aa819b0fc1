import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { catalogueVersionInput, problemsOf } from "@ledger/events";
import type { Authenticator } from "../../auth/authentication";
import type { LedgerBackend } from "../../backend/contract";
import { bodyObject, fieldSentences } from "../../http/json-text";
import { queryParameters } from "../../http/query-parameters";
import { RequestError } from "../../http/request-error";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

export interface BillingAdminOptions {
  auth: Authenticator;
  backend: Pick<LedgerBackend, "catalogue" | "addCatalogueVersion" | "exportPeriod" | "closePeriod">;
}

// `ledger export`: a closed period's invoice lines or usage, as ClickHouse writes them.
const exportQuery = z.strictObject({
  dataset: z.enum(["invoice_lines", "usage"], { error: "must be invoice_lines or usage" }).default("invoice_lines"),
  format: z.enum(["csv", "parquet"], { error: "must be csv or parquet" }).default("csv"),
});
const closeBody = z.strictObject({ wait: z.boolean({ error: "must be true or false" }).default(false) });

/**
 * The price catalogue (§10.1; a version for a closed period is refused, 409), exports of closed
 * periods, and `POST /v1/admin/periods/{period}/close` (`ledger close`): the platform key only.
 */
export async function billingAdminRoutes(app: FastifyInstance, o: BillingAdminOptions): Promise<void> {
  app.get("/v1/admin/catalogue", async (req: Req) => {
    await o.auth.platform(req, "the price catalogue takes the platform key");
    return o.backend.catalogue();
  });
  app.post("/v1/admin/catalogue", async (req: Req, reply) => {
    await o.auth.platform(req, "the price catalogue takes the platform key");
    const body = catalogueVersionInput.safeParse(bodyObject(req.body));
    if (!body.success) {
      const problems = problemsOf(body.error);
      throw new RequestError(400, { error: `invalid catalogue version; nothing was changed: ${problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`, problems });
    }
    return reply.code(201).send(await o.backend.addCatalogueVersion(body.data));
  });

  app.get("/v1/admin/export/:period", async (req: Req, reply) => {
    await o.auth.platform(req, "exports take the platform key");
    const q = queryParameters(exportQuery, req.query, "this export");
    const bytes = await o.backend.exportPeriod(req.params.period!, q.dataset, q.format === "csv" ? "CSVWithNames" : "Parquet");
    return reply.header("content-type", q.format === "csv" ? "text/csv; charset=utf-8" : "application/vnd.apache.parquet").send(Buffer.from(bytes));
  });

  app.post("/v1/admin/periods/:period/close", async (req: Req) => {
    await o.auth.platform(req, "closing a period takes the platform key");
    const body = closeBody.safeParse(bodyObject(req.body));
    if (!body.success) throw new RequestError(400, { error: `bad body: ${fieldSentences(body.error.issues)}` });
    return o.backend.closePeriod(req.params.period!, body.data.wait);
  });
}
