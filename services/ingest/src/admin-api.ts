import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { generateApiKey, type ApiKeyRecord } from "@ledger/accounts";
import { ACCOUNT_EVENTS, identifier, validateOf, type AccountEvent } from "@ledger/events";
import { isRetriable } from "@ledger/kafka";
import { limitChecks, RATE_LIMITS, type LimitCheck, type RateClass } from "@ledger/limits";
import { planLimitsOf } from "@ledger/accounts";
import { AccessError, type Principal } from "./authentication";
import { parseJsonText } from "./json-text";
import { RequestError } from "./request-error";
import type { IngestDeps } from "./server";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

export const bodyObject = (body: unknown): Record<string, unknown> => {
  if (body === undefined || body === null || body === "") return {};
  const value = typeof body === "string" ? parseJsonText(body, "body") : body;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new RequestError(400, { error: "body must be a JSON object" });
  return value as Record<string, unknown>;
};

export function param(name: string, value: unknown): string {
  const r = identifier.safeParse(value);
  if (!r.success) throw new RequestError(400, { error: `${name} ${r.error.issues[0]!.message}` });
  return r.data;
}

/** The public view of a key: never the key, nor its hash. */
export const keyView = (k: ApiKeyRecord) => ({
  key_id: k.keyId,
  org_id: k.orgId,
  workspace_id: k.workspaceId,
  kind: k.kind,
  ...(k.userId !== undefined ? { user_id: k.userId } : {}),
  created_at: k.createdAt,
  revoked: k.revoked,
});

/**
 * `/v1/admin/…`, the platform key only: configure organizations, workspaces and projects, create,
 * list and revoke keys, read limits. Every change is an account event (§7) validated by the same
 * schema as a replay log's, published to the accounts topic (202-style: answered after Kafka's
 * acknowledgement) and applied to this replica at once; other replicas see it within the refresh.
 */
export function registerAdminRoutes(app: FastifyInstance, deps: IngestDeps, principalOf: (req: Req) => Promise<Principal>): void {
  const platformOnly = async (req: Req) => {
    const principal = await principalOf(req);
    if (principal.kind !== "platform") throw new AccessError(403, "the admin API takes the platform key only");
  };

  const record = async (fields: Record<string, unknown>): Promise<AccountEvent> => {
    // occurred_at: when the configuration takes effect, now unless the body says otherwise (an
    // organization's plan since a date: invoices use the one in effect at a period's end, §10.1).
    const raw = { occurred_at: new Date(deps.clock.now()).toISOString(), ...fields, id: `${String(fields.type)}:${randomUUID()}` };
    const v = validateOf(ACCOUNT_EVENTS, raw);
    if (!v.ok) {
      throw new RequestError(400, {
        error: `invalid ${String(fields.type)}; nothing was changed: ${v.problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`,
        problems: v.problems,
      });
    }
    try {
      await deps.publishAccount(v.event);
    } catch (error) {
      if (!isRetriable(error)) throw error;
      throw new RequestError(503, { error: `not recorded, retry later: ${(error as Error).message}` });
    }
    deps.accounts.applyLocal(v.event);
    return v.event;
  };

  app.put("/v1/admin/orgs/:org", async (req: Req) => {
    await platformOnly(req);
    const body = bodyObject(req.body);
    return record({ payment_method: false, ...body, type: "org-configured", org_id: param("organization", req.params.org) });
  });

  app.put("/v1/admin/orgs/:org/workspaces/:workspace", async (req: Req) => {
    await platformOnly(req);
    const body = bodyObject(req.body);
    return record({
      all_traces_limit: null,
      extended_traces_limit: null,
      default_retention: "base",
      ...body,
      type: "workspace-configured",
      org_id: param("organization", req.params.org),
      workspace_id: param("workspace", req.params.workspace),
    });
  });

  app.put("/v1/admin/orgs/:org/workspaces/:workspace/projects/:project", async (req: Req) => {
    await platformOnly(req);
    return record({
      ...bodyObject(req.body),
      type: "project-configured",
      org_id: param("organization", req.params.org),
      workspace_id: param("workspace", req.params.workspace),
      project_id: param("project", req.params.project),
    });
  });

  app.post("/v1/admin/keys", async (req: Req, reply) => {
    await platformOnly(req);
    const body = bodyObject(req.body);
    const kind = body.kind ?? (body.user_id === undefined ? undefined : "personal");
    if (kind === undefined) throw new RequestError(400, { error: "user_id is required for a personal key (or ask for kind \"service\")" });
    if (kind !== "personal" && kind !== "service") throw new RequestError(400, { error: 'kind must be "personal" or "service"' });
    const { key, keyHash, keyId } = generateApiKey(kind);
    const event = await record({ ...body, kind, type: "api-key-created", key_id: keyId, key_hash: keyHash });
    const created = deps.accounts.current.keyById(keyId)!;
    reply.code(201);
    // The only time the key itself leaves the ledger.
    return { ...keyView(created), key, event_id: event.id };
  });

  app.get("/v1/admin/keys", async (req: Req) => {
    await platformOnly(req);
    const org = req.query.org === undefined ? undefined : param("org", req.query.org);
    return { keys: deps.accounts.current.keys(org).map(keyView) };
  });

  app.post("/v1/admin/keys/:keyId/revoke", async (req: Req) => {
    await platformOnly(req);
    const keyId = param("key id", req.params.keyId);
    const existing = deps.accounts.current.keyById(keyId);
    if (!existing) throw new RequestError(404, { error: `there is no key ${JSON.stringify(keyId)}` });
    await record({ type: "api-key-revoked", org_id: existing.orgId, key_id: keyId });
    return keyView(deps.accounts.current.keyById(keyId)!);
  });

  app.get("/v1/admin/limits", async (req: Req) => {
    await platformOnly(req);
    if (req.query.org === undefined) throw new RequestError(400, { error: "org is required (the organization whose limits to show)" });
    const orgId = param("org", req.query.org);
    const wsFilter = req.query.workspace === undefined ? undefined : param("workspace", req.query.workspace);
    return limitsOf(deps, orgId, wsFilter, true);
  });

  // Replicas that cannot open this ledger's ClickHouse (an embedded chDB belongs to one process)
  // read the accounts and counter sources through these.
  app.get("/v1/admin/account-events", async (req: Req) => {
    await platformOnly(req);
    return { events: await deps.accountEvents() };
  });
  const seedBody = z.strictObject({
    count: z.enum(["events", "traces", "upgrades"]),
    orgId: identifier,
    workspaceId: identifier.optional(),
    fromMs: z.number().int(),
    toMs: z.number().int(),
  });
  app.post("/v1/admin/counter-members", async (req: Req) => {
    await platformOnly(req);
    const r = seedBody.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: `bad counter source: ${r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}` });
    return { members: await deps.counterMembers(r.data) };
  });
  // For replicas without their own ClickHouse: GET /runs/{id} is answered from the primary's.
  const runLookup = z.strictObject({ orgId: identifier, workspaceId: identifier, runId: identifier, nowMs: z.number().int() });
  app.post("/v1/admin/retained-run-parts", async (req: Req) => {
    await platformOnly(req);
    const r = runLookup.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: `bad run lookup: ${r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}` });
    return { parts: await deps.retainedRunParts(r.data) };
  });
  // `ledger sql`: analysts' read-only queries (ClickHouse enforces read-only; see analystQuery).
  const sqlRequest = z.strictObject({
    query: z.string({ error: "must be the SQL text" }),
    format: z.string({ error: "must be a ClickHouse output format name" }).default("PrettyCompactMonoBlock"),
  });
  app.post("/v1/admin/sql", async (req: Req) => {
    await platformOnly(req);
    const r = sqlRequest.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: r.error.issues.map((i) => `${i.path.join(".") || "body"} ${i.message}`).join("; ") });
    try {
      return { output: await deps.analystQuery(r.data.query, r.data.format) };
    } catch (error) {
      // Through the ingest thread an error keeps its name, not its class.
      if ((error as Error).name === "AnalystQueryError") throw new RequestError(400, { error: (error as Error).message });
      throw error;
    }
  });
}

/**
 * An organization's limits with their current counts (§6): its plan's, each workspace's (or one
 * workspace's), and, for the admin API, each live key's rate classes.
 */
export async function limitsOf(deps: IngestDeps, orgId: string, wsFilter: string | undefined, withKeys: boolean) {
  const directory = deps.accounts.current;
  const workspaces = wsFilter !== undefined ? [wsFilter] : directory.workspacesOf(orgId).map((w) => w.workspaceId);
  const now = deps.clock.now();
  const common = { nowMs: now, plan: () => planLimitsOf(directory.org(orgId)), workspace: (o: string, w: string) => directory.workspace(o, w) };
  const charge = (workspaceId: string) => ({ orgId, workspaceId, eventId: "", bytes: 0, createsTrace: "", extendsTrace: "" });
  // Plan limits once, then each workspace's, then each live key's rate classes.
  const checks: LimitCheck[] = limitChecks({ ...common, charges: [charge(workspaces[0] ?? "-")] }).filter((c) => workspaces.length > 0 || c.limit.startsWith("plan:"));
  for (const ws of workspaces.slice(1)) checks.push(...limitChecks({ ...common, charges: [charge(ws)] }).filter((c) => c.limit.startsWith("workspace:")));
  const ordered = [...checks];
  for (const key of withKeys ? directory.keys(orgId).filter((k) => !k.revoked && (wsFilter === undefined || k.workspaceId === wsFilter)) : []) {
    for (const cls of Object.keys(RATE_LIMITS) as RateClass[]) {
      ordered.push(...limitChecks({ ...common, rate: { keyId: key.keyId, orgId, class: cls }, charges: [] }));
    }
  }
  const counts = await deps.admission.current(ordered);
  return {
    org_id: orgId,
    plan: directory.org(orgId).plan,
    payment_method: directory.org(orgId).paymentMethod,
    workspaces,
    limits: ordered.map((c, i) => ({
      limit: c.limit,
      ...c.scope,
      limit_value: c.value,
      current: counts[i]!.current,
      resets_at: counts[i]!.resetsAtMs === null ? null : new Date(counts[i]!.resetsAtMs!).toISOString(),
    })),
  };
}
