import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Authenticator } from "../auth/authentication";
import type { LedgerBackend } from "../backend/contract";
import { bodyObject, fieldSentences } from "../http/json-text";
import { described } from "../http/operation";
import { RequestError } from "../http/request-error";

export interface AnalystRoutesOptions {
  auth: Authenticator;
  backend: Pick<LedgerBackend, "analystQuery" | "stopAnalystQuery">;
}

const tag = z.string().regex(/^[a-z0-9]{8,32}$/, { error: "must be 8–32 lower-case letters and digits" });
const sqlRequest = z.strictObject({
  query: z.string({ error: "must be the SQL text" }),
  format: z.string({ error: "must be a ClickHouse output format name" }).default("PrettyCompactMonoBlock"),
  /** A replica passes its own, so that it can stop the query on the primary (`/v1/admin/sql/stop`). */
  tag: tag.optional(),
});
const stopRequest = z.strictObject({ tag });

/**
 * `POST /v1/admin/sql` (`ledger sql`): an analyst's read-only query, the platform key only.
 * ClickHouse enforces read-only and the bounds (see analystQuery); its refusal is a 400 naming
 * the bound. A client that goes away before the answer has its query stopped.
 */
export async function analystRoutes(app: FastifyInstance, o: AnalystRoutesOptions): Promise<void> {
  app.post(
    "/v1/admin/sql",
    described({
      summary: "Run an analyst's read-only SQL",
      description: "Bounded in time (LEDGER_ANALYST_MAX_SECONDS), memory and result size; a refusal by a bound is a 400 naming it. A client that goes away has its query stopped.",
      tag: "analyst",
      auth: "platform",
      body: { schema: sqlRequest, contentTypes: ["application/json"], example: { query: "SELECT org_id, sum(base_traces) AS base_traces FROM billing_usage_v1 GROUP BY org_id", format: "JSONEachRow" } },
      answers: { 200: { description: "the query's output in the format asked", schema: z.object({ output: z.string() }) } },
    }),
    async (req: FastifyRequest<{ Body: unknown }>, reply) => {
    await o.auth.platform(req);
    const r = sqlRequest.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: fieldSentences(r.error.issues) });
    const queryTag = r.data.tag ?? randomBytes(8).toString("hex");
    const gone = () => {
      if (!reply.sent) void o.backend.stopAnalystQuery(queryTag).catch(() => {});
    };
    reply.raw.once("close", gone);
    try {
      return { output: await o.backend.analystQuery(r.data.query, r.data.format, queryTag) };
    } finally {
      reply.raw.off("close", gone);
    }
    },
  );

  app.post(
    "/v1/admin/sql/stop",
    described({
      summary: "Stop an analyst's query by its tag",
      tag: "analyst",
      auth: "platform",
      body: { schema: stopRequest, contentTypes: ["application/json"], example: { tag: "a1b2c3d4e5f60718" } },
      answers: { 200: { description: "the query is being stopped (or had ended)", schema: z.object({ stopped: z.string() }) } },
    }),
    async (req: FastifyRequest<{ Body: unknown }>) => {
    await o.auth.platform(req);
    const r = stopRequest.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: fieldSentences(r.error.issues) });
    await o.backend.stopAnalystQuery(r.data.tag);
    return { stopped: r.data.tag };
    },
  );
}
