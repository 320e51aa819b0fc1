import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import { z } from "zod";
import type { LedgerBackend } from "../backend/contract";
import { openApiDocument, type RegisteredRoute } from "../http/openapi";
import { described } from "../http/operation";

export interface OpsRoutesOptions {
  registry: Registry;
  backend: Pick<LedgerBackend, "ready" | "metrics">;
  /** Every route fastify registered, for `/openapi.json`. */
  routes: () => readonly RegisteredRoute[];
  version: string;
}

const status = (value: string) => z.object({ status: z.literal(value) });

/** `/healthz`, `/readyz`, `/metrics` and `/openapi.json`, without a key: for probes, scrapers and clients. */
export async function opsRoutes(app: FastifyInstance, o: OpsRoutesOptions): Promise<void> {
  app.get("/healthz", described({ summary: "The API answers", tag: "ops", auth: "none", answers: { 200: { description: "this replica's HTTP side is up", schema: status("ok") } } }), async () => ({ status: "ok" }));

  app.get(
    "/readyz",
    described({ summary: "The engines answer", tag: "ops", auth: "none", answers: { 200: { description: "Kafka, ClickHouse and Redis answer", schema: status("ready") } }, refusals: [503] }),
    async (_req, reply) => {
      try {
        await o.backend.ready();
        return { status: "ready" };
      } catch (error) {
        return reply.code(503).header("retry-after", "5").send({ error: `not ready: ${(error as Error).message}` });
      }
    },
  );

  app.get(
    "/metrics",
    described({ summary: "Prometheus metrics", tag: "ops", auth: "none", answers: { 200: { description: "this process's metrics in Prometheus's text format", schema: z.string(), contentType: "text/plain" } } }),
    async (_req, reply) => {
      reply.header("content-type", o.registry.contentType);
      const more = await o.backend.metrics();
      return (await o.registry.metrics()) + (more ? `\n${more}` : "");
    },
  );

  // Built once, on the first request: every route is registered by then.
  let document: unknown;
  app.get(
    "/openapi.json",
    described({ summary: "This API's OpenAPI 3.1 document", description: "Generated from the zod schemas the routes validate with.", tag: "ops", auth: "none", answers: { 200: { description: "the document", schema: z.record(z.string(), z.unknown()) } } }),
    async () => (document ??= openApiDocument(o.routes(), o.version)),
  );
}
