import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { LedgerBackend } from "../backend/contract";

export interface OpsRoutesOptions {
  registry: Registry;
  backend: Pick<LedgerBackend, "ready" | "metrics">;
}

/** `/healthz`, `/readyz` and `/metrics`, without a key: for probes and scrapers. */
export async function opsRoutes(app: FastifyInstance, o: OpsRoutesOptions): Promise<void> {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    try {
      await o.backend.ready();
      return { status: "ready" };
    } catch (error) {
      return reply.code(503).header("retry-after", "5").send({ error: `not ready: ${(error as Error).message}` });
    }
  });
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", o.registry.contentType);
    const more = await o.backend.metrics();
    return (await o.registry.metrics()) + (more ? `\n${more}` : "");
  });
}
