import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authorizeOrg, type Principal } from "./authentication";
import { limitsOf, param } from "./admin-api";
import { RequestError } from "./request-error";
import { admitRead, parameterProblems } from "./read-admission";
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

  /** Authenticates, picks the organization (a key's own by default), counts the request; null when refused. */
  const admitted = async (req: Req, reply: FastifyReply): Promise<{ org: string } | null> => {
    const principal = await principalOf(req);
    const raw = req.query.org ?? (principal.kind === "key" ? principal.key.orgId : undefined);
    if (raw === undefined) throw new RequestError(400, { error: "org is required with the platform key (the organization to show)" });
    const org = param("org", raw);
    authorizeOrg(principal, org);
    return (await admitRead(deps, principal, req, reply)) ? { org } : null;
  };

  app.get("/v1/usage/daily", async (req: Req, reply) => {
    const ok = await admitted(req, reply);
    if (!ok) return reply;
    try {
      return await deps.dailyUsage({ ...req.query, org: ok.org });
    } catch (error) {
      const problems = parameterProblems(error, "/v1/usage/daily");
      if (problems) return reply.code(400).send({ error: problems });
      throw error;
    }
  });

  app.get("/v1/limits", async (req: Req, reply) => {
    const ok = await admitted(req, reply);
    if (!ok) return reply;
    const unknown = Object.keys(req.query).filter((k) => k !== "org" && k !== "workspace");
    if (unknown.length > 0) throw new RequestError(400, { error: `bad query parameters: ${unknown.join(", ")} is not a parameter of /v1/limits` });
    const ws = req.query.workspace === undefined ? undefined : param("workspace", req.query.workspace);
    return limitsOf(deps, ok.org, ws, false);
  });
}
