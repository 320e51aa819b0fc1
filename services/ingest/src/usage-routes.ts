import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authorizeOrg, type Principal } from "./authentication";
import { z } from "zod";
import { identifier } from "@ledger/events";
import { limitsOf } from "./admin-api";
import { RequestError } from "./request-error";
import { admitRead } from "./read-admission";
import { queryParameters } from "./query-parameters";
import { dailyUsageParams } from "@ledger/clickhouse";
import type { IngestDeps } from "./server";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

/** The page's files, read once: the page is static, every figure on it comes from the JSON API. */
function pageAssets(): Map<string, { type: string; body: Buffer }> {
  const here = join(dirname(fileURLToPath(import.meta.url)), "..", "usage-page");
  // uPlot from node_modules, served by us: the page works without a network (no CDN).
  const uplot = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
  return new Map([
    ["/usage", { type: "text/html; charset=utf-8", body: readFileSync(join(here, "index.html")) }],
    ["/usage/usage.js", { type: "text/javascript; charset=utf-8", body: readFileSync(join(here, "usage.js")) }],
    ["/usage/usage.css", { type: "text/css; charset=utf-8", body: readFileSync(join(here, "usage.css")) }],
    ["/usage/vendor/uPlot.iife.min.js", { type: "text/javascript; charset=utf-8", body: readFileSync(join(uplot, "uPlot.iife.min.js")) }],
    ["/usage/vendor/uPlot.min.css", { type: "text/css; charset=utf-8", body: readFileSync(join(uplot, "uPlot.min.css")) }],
  ]);
}

/**
 * The usage page (`GET /usage`) and the JSON it reads: `GET /v1/usage/daily` (the chart, from
 * daily_usage_v1) and `GET /v1/limits` (a workspace's and the plan's limits, for a key of that
 * organization). Invoices and period usage come from `/v1/invoices` and `/v1/usage`: the page
 * computes nothing itself.
 */
export function registerUsageRoutes(app: FastifyInstance, deps: IngestDeps, principalOf: (req: Req) => Promise<Principal>): void {
  const assets = pageAssets();
  for (const [path, asset] of assets) {
    app.get(path, async (_req, reply) =>
      reply
        .header("content-type", asset.type)
        // The page holds no data; its key stays in the browser's session storage.
        .header("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        .header("cache-control", "no-cache")
        .send(asset.body),
    );
  }

  /**
   * Authenticates, checks the parameters, picks the organization (a key's own by default) and
   * counts the request; null when refused (answered).
   */
  const admitted = async <S extends z.ZodType<{ org?: string }>>(req: Req, reply: FastifyReply, schema: S, route: string): Promise<(z.output<S> & { org: string }) | null> => {
    const principal = await principalOf(req);
    const query = queryParameters(schema, req.query, route);
    const org = query.org ?? (principal.kind === "key" ? principal.key.orgId : undefined);
    if (org === undefined) throw new RequestError(400, { error: "org is required with the platform key (the organization to show)" });
    authorizeOrg(principal, org);
    return (await admitRead(deps, principal, req, reply)) ? { ...query, org } : null;
  };

  app.get("/v1/usage/daily", async (req: Req, reply) => {
    const query = await admitted(req, reply, dailyUsageParams.partial({ org: true }), "/v1/usage/daily");
    return query ? deps.dailyUsage(query) : reply;
  });

  const limitsQuery = z.strictObject({ org: identifier.optional(), workspace: identifier.optional() });
  app.get("/v1/limits", async (req: Req, reply) => {
    const query = await admitted(req, reply, limitsQuery, "/v1/limits");
    return query ? limitsOf(deps, query.org, query.workspace, false) : reply;
  });
}
