import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Authenticator } from "../auth/authentication";
import type { LedgerBackend } from "../backend/contract";
import { bodyObject, fieldSentences } from "../http/json-text";
import { RequestError } from "../http/request-error";

export interface AnalystRoutesOptions {
  auth: Authenticator;
  backend: Pick<LedgerBackend, "analystQuery">;
}

const sqlRequest = z.strictObject({
  query: z.string({ error: "must be the SQL text" }),
  format: z.string({ error: "must be a ClickHouse output format name" }).default("PrettyCompactMonoBlock"),
});

/**
 * `POST /v1/admin/sql` (`ledger sql`): an analyst's read-only query, the platform key only.
 * ClickHouse enforces read-only and the bounds (see analystQuery); its refusal is a 400.
 */
export async function analystRoutes(app: FastifyInstance, o: AnalystRoutesOptions): Promise<void> {
  app.post("/v1/admin/sql", async (req: FastifyRequest<{ Body: unknown }>) => {
    await o.auth.platform(req);
    const r = sqlRequest.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: fieldSentences(r.error.issues) });
    return { output: await o.backend.analystQuery(r.data.query, r.data.format) };
  });
}
