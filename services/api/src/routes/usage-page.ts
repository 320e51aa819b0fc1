import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { described } from "../http/operation";

/** The page's files, read once: the page is static, every figure on it comes from the JSON API. */
function pageAssets(): Map<string, { type: string; body: Buffer }> {
  const here = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "usage-page");
  // uPlot from node_modules, served by us: the page works without a network (no CDN).
  const uplot = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
  return new Map([
    ["/usage", { type: "text/html; charset=utf-8", body: readFileSync(join(here, "index.html")) }],
    ["/usage/usage.js", { type: "text/javascript; charset=utf-8", body: readFileSync(join(here, "usage.js")) }],
    ["/usage/usage.css", { type: "text/css; charset=utf-8", body: readFileSync(join(here, "usage.css")) }],
    ["/usage/favicon.svg", { type: "image/svg+xml", body: readFileSync(join(here, "favicon.svg")) }],
    // Browsers ask for it at the root whatever the page says.
    ["/favicon.ico", { type: "image/svg+xml", body: readFileSync(join(here, "favicon.svg")) }],
    ["/usage/vendor/uPlot.iife.min.js", { type: "text/javascript; charset=utf-8", body: readFileSync(join(uplot, "uPlot.iife.min.js")) }],
    ["/usage/vendor/uPlot.min.css", { type: "text/css; charset=utf-8", body: readFileSync(join(uplot, "uPlot.min.css")) }],
  ]);
}

/**
 * The usage page (`GET /usage`): static HTML, a script and uPlot, no key needed to load it;
 * every figure it shows comes from the JSON API with the key the user enters.
 */
export async function usagePageRoutes(app: FastifyInstance): Promise<void> {
  const assets = pageAssets();
  for (const [path, asset] of assets) {
    const operation = described({
      summary: path === "/usage" ? "The usage page" : `A file of the usage page (${asset.type.split(";")[0]})`,
      description: "Static; every figure on the page comes from the JSON API with the key the user enters.",
      tag: "usage page",
      auth: "none",
      answers: { 200: { description: "the file", schema: z.string(), contentType: asset.type.split(";")[0] } },
    });
    app.get(path, operation, async (_req, reply) =>
      reply
        .header("content-type", asset.type)
        // The page holds no data; its key stays in the browser's session storage.
        .header("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        .header("cache-control", "no-cache")
        .send(asset.body),
    );
  }

}
