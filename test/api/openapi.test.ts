import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { apiConfigFromEnv } from "@ledger/api";
import { openApiPath, type RegisteredRoute } from "../../services/api/src/http/openapi";
import { buildApiServer, type ApiParts } from "../../services/api/src/server";
import { ledgerApi } from "../support/ledger-api";
import { startReplicas, type Replicas } from "../support/replicas";

// GET /openapi.json of `ledger serve` as a process, against the routes fastify registers: every
// route is in the document, the document is valid OpenAPI 3.1, and every example in it is one
// its route's schema accepts and the running ledger does not refuse as malformed.

/** Every route as fastify registers it, from a server built only to be enumerated (never listening). */
async function registeredRoutes(): Promise<RegisteredRoute[]> {
  const app = buildApiServer({ config: apiConfigFromEnv({}) } as ApiParts);
  const routes: RegisteredRoute[] = [];
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) if (method !== "HEAD") routes.push({ method, url: r.url, operation: r.config?.operation });
  });
  await app.ready();
  await app.close();
  return routes;
}

type Doc = { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example?: unknown }> }; responses: Record<string, unknown>; parameters?: { name: string; in: string }[] }>> };

/** A route's URL with a value for each path parameter. */
const pathValues: Record<string, string> = { org: "acme", workspace: "prod", project: "chatbot", period: "2024-06", id: "0190a6c4-6a2e-7000-8000-000000000001", queue: "q-1", keyId: "k-1", n: "1" };
const pathOf = (r: RegisteredRoute) => r.url.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => pathValues[name]!);

let ledger: Replicas;
let routes: RegisteredRoute[];
let doc: Doc;
let workspaceKey: string;
beforeAll(async () => {
  routes = await registeredRoutes();
  ledger = await startReplicas(1, "openapi");
  const res = await fetch(`${ledger.urls[0]}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
  const api = ledgerApi(ledger.urls[0]!, ledger.platformKey);
  await api.org("acme", { plan: "plus", payment_method: true });
  workspaceKey = (await api.key("acme", "prod")).key;
}, 180_000);
afterAll(async () => {
  await ledger?.stop();
});

describe("GET /openapi.json", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe("3.1.0");
  });

  test("lists every route fastify registered, each with its parameters and its refusal's shape", () => {
    expect(routes.length).toBeGreaterThan(40);
    const missing = routes.filter((r) => doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()] === undefined).map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
    // Nothing listed that is not served.
    const listed = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
    expect(listed.sort()).toEqual(routes.map((r) => `${r.method} ${openApiPath(r.url)}`).sort());
    for (const r of routes) {
      const op = doc.paths[openApiPath(r.url)]![r.method.toLowerCase()]!;
      // Each path parameter is described, and a keyed route says what its 401 answers.
      for (const name of [...r.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!)) expect(op.parameters?.some((p) => p.in === "path" && p.name === name), `${r.method} ${r.url} ${name}`).toBe(true);
      if (r.operation!.auth !== "none") expect(op.responses["401"], `${r.method} ${r.url}`).toEqual({ $ref: "#/components/responses/Refused401" });
    }
  });

  test("a refusal's shape is one component: a sentence, and the problems of a refused event", () => {
    const components = (doc as unknown as { components: { responses: Record<string, unknown>; schemas: Record<string, { properties: Record<string, unknown>; required: string[] }> } }).components;
    expect(components.responses.Refused401).toMatchObject({ content: { "application/json": { schema: { $ref: "#/components/schemas/Refusal" } } } });
    expect(components.schemas.Refusal!.required).toEqual(["error"]);
    expect(Object.keys(components.schemas.Refusal!.properties).sort()).toEqual(["error", "problems"]);
  });

  test("every query parameter a route checks is listed, and one not listed is refused by name", async () => {
    const usage = doc.paths["/v1/usage"]!.get!;
    expect(usage.parameters!.map((p) => p.name).sort()).toEqual(["by", "from", "org", "to"]);
    expect(doc.paths["/v1/usage/daily"]!.get!.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(["days", "through", "workspace"]));
    const withQuery = routes.filter((r) => r.operation!.query !== undefined);
    expect(withQuery.length).toBeGreaterThan(5);
    for (const r of withQuery) {
      const res = await fetch(`${ledger.urls[0]}${pathOf(r)}?not_listed=1`, { method: r.method, headers: { "x-api-key": ledger.platformKey } });
      const answer = await res.text();
      expect({ route: `${r.method} ${r.url}`, status: res.status, names: /not_listed is not a parameter/.test(answer) }, answer).toEqual({ route: `${r.method} ${r.url}`, status: 400, names: true });
    }
  });

  test("every example validates against its route's schema, and the running ledger does not refuse it as malformed", async () => {
    const keyOf = (r: RegisteredRoute) => (r.operation!.auth === "workspace-key" ? workspaceKey : ledger.platformKey);
    let examples = 0;
    for (const r of routes) {
      const body = r.operation!.body;
      const listed = doc.paths[openApiPath(r.url)]![r.method.toLowerCase()]!.requestBody?.content[body?.contentTypes[0] ?? ""]?.example;
      if (!body || body.example === undefined) continue;
      examples++;
      expect(listed, `${r.method} ${r.url}: the document's example`).toEqual(body.example);
      const parsed = body.schema.safeParse(body.example);
      expect(parsed.success, `${r.method} ${r.url}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      const res = await fetch(`${ledger.urls[0]}${pathOf(r)}`, { method: r.method, headers: { "x-api-key": keyOf(r), "content-type": body.contentTypes[0]! }, body: JSON.stringify(body.example) });
      const answer = await res.text();
      expect(res.status, `${r.method} ${r.url}: ${answer}`).not.toBe(400);
      expect(res.status, `${r.method} ${r.url}: ${answer}`).toBeLessThan(500);
    }
    expect(examples).toBeGreaterThan(15);
  });
});
