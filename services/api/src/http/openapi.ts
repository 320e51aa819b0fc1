import { z } from "zod";
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject, type ZodOpenApiResponsesObject } from "zod-openapi";
import type { Operation } from "./operation";

/** A route as fastify registered it, with what it says of itself (none: it is left out, and a test fails). */
export interface RegisteredRoute {
  method: string;
  url: string;
  operation?: Operation;
}

/** A refused event's or field's problem (BatchProblem of @ledger/events). */
const problem = z.object({
  field: z.string(),
  reason: z.string(),
  index: z.number().int().optional().meta({ description: "the event's 0-based index in a JSON array" }),
  line: z.number().int().optional().meta({ description: "the event's 1-based line in NDJSON" }),
  event_id: z.string().optional(),
});

/** Every refusal's body: a sentence, and for a refused event or field the problems one by one. */
export const refusal = z
  .object({
    error: z.string().meta({ description: "what was wrong and where, as a sentence" }),
    problems: z.array(problem).optional().meta({ description: "each refused event's or field's problem" }),
  })
  .meta({ id: "Refusal", description: "A request the ledger refused or could not serve; nothing was published or changed by it." });

const REFUSALS: Record<number, string> = {
  400: "the request is malformed: a parameter, a field or the body, named in the sentence",
  401: "no API key, or one this ledger does not know or has revoked",
  402: "the organization cannot be billed for this",
  403: "the key may not do this (another organization or workspace, or the platform key's work)",
  404: "no such object in the key's organization or workspace",
  408: "the body did not arrive in time",
  409: "the request conflicts with the ledger's state (a closed period, say)",
  413: "the body is larger than the limit, before or after decompression, or carries too many events",
  415: "the body's Content-Type is not one the route reads",
  429: "a limit of §6 refused it; Retry-After says when to try again",
  500: "the ledger failed to serve this request (logged, with the request's id); nothing was published by it",
  503: "an engine did not answer in time; Retry-After says when to retry (a retried request counts once)",
};

/** The refusals a route can give: its own, and those of every key, parameter and body. */
function refusalsOf(op: Operation): number[] {
  const statuses = new Set<number>(op.refusals ?? []);
  if (op.params || op.query || op.body) statuses.add(400);
  if (op.auth !== "none") statuses.add(401);
  if (op.auth === "org-key-or-platform" || op.auth === "platform") statuses.add(403);
  if (op.body) for (const s of [408, 413, 415]) statuses.add(s);
  statuses.add(500);
  return [...statuses].sort((a, b) => a - b);
}

/** One response component per refusal status, referred to by every route that gives it. */
const refusalResponses = new Map(Object.entries(REFUSALS).map(([status, description]) => [Number(status), { id: `Refused${status}`, description, content: { "application/json": { schema: refusal } } }]));

const SECURITY: Record<Operation["auth"], string> = {
  none: "No key.",
  "workspace-key": "A workspace's key (the LangSmith SDK's).",
  "org-key-or-platform": "A key of the organization, or the platform key.",
  platform: "The platform key only.",
};

function operationObject(route: RegisteredRoute, op: Operation): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, answer] of Object.entries(op.answers)) {
    responses[status] = {
      description: answer.description,
      ...(answer.schema ? { content: { [answer.contentType ?? "application/json"]: { schema: answer.schema, ...(answer.example !== undefined ? { example: answer.example } : {}) } } } : {}),
    };
  }
  for (const status of refusalsOf(op)) {
    responses[String(status)] ??= refusalResponses.get(status)!;
  }
  return {
    operationId: `${route.method.toLowerCase()}${route.url.replace(/[/:{}.-]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
    summary: op.summary,
    description: [op.description, SECURITY[op.auth]].filter(Boolean).join("\n\n"),
    tags: [op.tag],
    ...(op.auth === "none" ? { security: [] } : {}),
    ...(op.params || op.query ? { requestParams: { ...(op.params ? { path: op.params } : {}), ...(op.query ? { query: op.query } : {}) } } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: op.body.required ?? true,
            content: Object.fromEntries(op.body.contentTypes.map((t) => [t, { schema: op.body!.schema, ...(op.body!.example !== undefined && t === op.body!.contentTypes[0] ? { example: op.body!.example } : {}) }])),
          },
        }
      : {}),
    responses: responses as ZodOpenApiResponsesObject,
  };
}

/** An OpenAPI path from fastify's (`/runs/:id` → `/runs/{id}`). */
export const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

/**
 * The API's OpenAPI 3.1 document, from the routes fastify registered and the schemas each
 * validates with. A route without an operation is left out (the OpenAPI test names it).
 */
export function openApiDocument(routes: readonly RegisteredRoute[], version: string): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    if (!route.operation || route.method === "HEAD") continue;
    const item = (paths[openApiPath(route.url)] ??= {});
    (item as Record<string, ZodOpenApiOperationObject>)[route.method.toLowerCase()] = operationObject(route, route.operation);
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "Billing ledger API",
      version,
      description: "Events in, the LangSmith run-ingest API, usage, invoices, administration and analysts' SQL. The contract is docs/spec.md; docs/http-api.md explains each route.",
    },
    components: {
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "x-api-key", description: "A key of the ledger (also accepted as Authorization: Bearer)." },
      },
    },
    security: [{ apiKey: [] }],
    tags: [
      { name: "events", description: "POST /v1/events: the API tier's events" },
      { name: "langsmith", description: "The LangSmith run-ingest API (§8), with and without /api/v1" },
      { name: "usage", description: "Billed usage, the page's daily chart and limits" },
      { name: "invoices", description: "Invoices, their periods and their lines' sources" },
      { name: "admin", description: "Organizations, workspaces, projects, keys, the catalogue, close and export" },
      { name: "analyst", description: "Read-only SQL, bounded" },
      { name: "ops", description: "Probes, metrics and this document" },
      { name: "usage page", description: "The usage page's static files" },
    ],
    paths,
  });
}
