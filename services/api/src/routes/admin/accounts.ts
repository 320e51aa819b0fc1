import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { EARLY_USER, earlyUserClaimRefusal, generateApiKey, secondWorkspaceOf, type ApiKeyRecord } from "@ledger/accounts";
import { microsOfUsd } from "@ledger/billing";
import { z } from "zod";
import { ACCOUNT_EVENTS, creditFields, identifier, instant, keyFields, orgConfigurationFields, problemsOf, projectConfigurationFields, validateOf, workspaceConfigurationFields, type AccountEvent } from "@ledger/events";
import { isRetriable } from "@ledger/kafka";
import type { Clock } from "@ledger/limits";
import type { AccountCache } from "../../auth/account-cache";
import type { Authenticator } from "../../auth/authentication";
import type { Admission } from "../../intake/admission";
import { limitsOf } from "../../intake/limits-view";
import { bodyObject } from "../../http/json-text";
import { described, type Operation } from "../../http/operation";
import { queryParameters } from "../../http/query-parameters";
import { RequestError } from "../../http/request-error";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

export interface AccountRoutesOptions {
  auth: Authenticator;
  accounts: AccountCache;
  admission: Admission;
  clock: Clock;
  /** Publishes an account event to the accounts topic and resolves after Kafka acknowledged it. */
  publishAccount: (event: AccountEvent) => Promise<void>;
  /** LG2: the early users' credit, a decimal string of dollars. */
  earlyUserCreditUsd: string;
}

/** An identifier from a path or a parameter, or a 400 naming it. */
export function param(name: string, value: unknown): string {
  const r = identifier.safeParse(value);
  if (!r.success) throw new RequestError(400, { error: `${name} ${r.error.issues[0]!.message}` });
  return r.data;
}

// What each body may say: the event's own fields; the path names the object, the ledger the id.
// occurred_at: when the configuration takes effect (now unless said; invoices use the plan in
// effect at a period's end, §10.1).
const since = { occurred_at: instant.optional() };
const orgBody = z.strictObject({ ...orgConfigurationFields, payment_method: orgConfigurationFields.payment_method.optional(), ...since });
const workspaceBody = z.strictObject({
  all_traces_limit: workspaceConfigurationFields.all_traces_limit.optional(),
  extended_traces_limit: workspaceConfigurationFields.extended_traces_limit.optional(),
  default_retention: workspaceConfigurationFields.default_retention.optional(),
  ...since,
});
const projectBody = z.strictObject({ ...projectConfigurationFields, ...since });
const keyBody = z.strictObject({ org_id: identifier, workspace_id: identifier, kind: keyFields.kind.optional(), user_id: keyFields.user_id, ...since });
// amount_usd may be left out of the early users' claim only (LG2: its amount is the ledger's).
const grantBody = z.strictObject({ ...creditFields, amount_usd: creditFields.amount_usd.optional(), ...since });
const voidBody = z.strictObject({ ...since });
const keysQuery = z.strictObject({ org: identifier.optional() });
const limitsQuery = z.strictObject({ org: identifier.optional(), workspace: identifier.optional() });

const orgPath = z.object({ org: identifier });
const workspacePath = orgPath.extend({ workspace: identifier });
const projectPath = workspacePath.extend({ project: identifier });
const keyPath = z.object({ keyId: identifier });
const grantPath = orgPath.extend({ grant: identifier });
const recorded = (what: string) => ({ 200: { description: `the ${what} event as published to the accounts topic`, schema: z.record(z.string(), z.unknown()) } });
const keyViewSchema = z.object({ key_id: z.string(), org_id: z.string(), workspace_id: z.string(), kind: z.enum(["personal", "service"]), user_id: z.string().optional(), created_at: z.string(), revoked: z.boolean() });

const configure = (summary: string, params: z.ZodObject, body: z.ZodType, example: unknown, what: string): Operation => ({
  summary,
  description: "Replaces the object's configuration whole; other replicas see it within their account refresh.",
  tag: "admin",
  auth: "platform",
  params,
  body: { schema: body, contentTypes: ["application/json"], example, required: false },
  answers: recorded(what),
  refusals: [503],
});

/** A body checked against what its route takes: a 400 naming each field, nothing changed. */
function bodyOf<S extends z.ZodType>(schema: S, body: unknown, type: string): z.output<S> {
  const r = schema.safeParse(bodyObject(body));
  if (r.success) return r.data;
  const problems = problemsOf(r.error);
  throw new RequestError(400, { error: `invalid ${type}; nothing was changed: ${problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`, problems });
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
 * `/v1/admin/orgs…`, `/v1/admin/keys…`, `/v1/admin/limits`, the platform key only: configure
 * organizations, workspaces and projects, create, list and revoke keys, read limits. Every change
 * is an account event (§7) validated by the same schema as a replay log's, published to the
 * accounts topic (answered after Kafka's acknowledgement) and applied to this replica at once;
 * other replicas see it within the refresh.
 */
export async function accountRoutes(app: FastifyInstance, o: AccountRoutesOptions): Promise<void> {
  const platformOnly = (req: Req) => o.auth.platform(req);

  const record = async (fields: Record<string, unknown>): Promise<AccountEvent> => {
    // occurred_at: when the configuration takes effect, now unless the body says otherwise (an
    // organization's plan since a date: invoices use the one in effect at a period's end, §10.1).
    const raw = { occurred_at: new Date(o.clock.now()).toISOString(), ...fields, id: `${String(fields.type)}:${randomUUID()}` };
    const v = validateOf(ACCOUNT_EVENTS, raw);
    if (!v.ok) {
      throw new RequestError(400, {
        error: `invalid ${String(fields.type)}; nothing was changed: ${v.problems.map((p) => `${p.field} ${p.reason}`).join("; ")}`,
        problems: v.problems,
      });
    }
    try {
      await o.publishAccount(v.event);
    } catch (error) {
      if (!isRetriable(error)) throw error;
      throw new RequestError(503, { error: `not recorded, retry later: ${(error as Error).message}` });
    }
    o.accounts.applyLocal(v.event);
    return v.event;
  };

  // G2: a personal organization's one workspace is its first; a second is refused.
  const personalHasOne = (org: string, workspace: string) => {
    const refusal = secondWorkspaceOf(o.accounts.current, org, workspace);
    if (refusal) throw new RequestError(refusal.status, { error: refusal.message, rule: refusal.rule });
  };

  app.put("/v1/admin/orgs/:org", described(configure("Configure an organization", orgPath, orgBody, { plan: "plus", payment_method: true }, "org-configured")), async (req: Req) => {
    await platformOnly(req);
    const body = bodyOf(orgBody, req.body, "org-configured");
    return record({ payment_method: false, ...body, type: "org-configured", org_id: param("organization", req.params.org) });
  });

  app.put("/v1/admin/orgs/:org/workspaces/:workspace", described(configure("Configure a workspace", workspacePath, workspaceBody, { all_traces_limit: 100000, extended_traces_limit: null, default_retention: "base" }, "workspace-configured")), async (req: Req) => {
    await platformOnly(req);
    const body = bodyOf(workspaceBody, req.body, "workspace-configured");
    personalHasOne(param("organization", req.params.org), param("workspace", req.params.workspace));
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

  app.put("/v1/admin/orgs/:org/workspaces/:workspace/projects/:project", described(configure("Configure a project's default retention", projectPath, projectBody, { default_retention: "extended" }, "project-configured")), async (req: Req) => {
    await platformOnly(req);
    return record({
      ...bodyOf(projectBody, req.body, "project-configured"),
      type: "project-configured",
      org_id: param("organization", req.params.org),
      workspace_id: param("workspace", req.params.workspace),
      project_id: param("project", req.params.project),
    });
  });

  const keyCreation: Operation = {
    summary: "Create a key of a workspace",
    description: "The answer is the only time the key itself leaves the ledger; only its hash is stored.",
    tag: "admin",
    auth: "platform",
    body: { schema: keyBody, contentTypes: ["application/json"], example: { org_id: "acme", workspace_id: "prod", user_id: "ana" } },
    answers: { 201: { description: "the key, once", schema: keyViewSchema.extend({ key: z.string(), event_id: z.string() }) } },
    refusals: [503],
  };
  app.post("/v1/admin/keys", described(keyCreation), async (req: Req, reply) => {
    await platformOnly(req);
    const body = bodyObject(req.body);
    const kind = body.kind ?? (body.user_id === undefined ? undefined : "personal");
    if (kind === undefined) throw new RequestError(400, { error: "user_id is required for a personal key (or ask for kind \"service\")" });
    if (kind !== "personal" && kind !== "service") throw new RequestError(400, { error: 'kind must be "personal" or "service"' });
    bodyOf(keyBody, body, "api-key-created");
    if (typeof body.org_id === "string" && typeof body.workspace_id === "string") personalHasOne(body.org_id, body.workspace_id);
    const { key, keyHash, keyId } = generateApiKey(kind);
    const event = await record({ ...body, kind, type: "api-key-created", key_id: keyId, key_hash: keyHash });
    const created = o.accounts.current.keyById(keyId)!;
    reply.code(201);
    // The only time the key itself leaves the ledger.
    return { ...keyView(created), key, event_id: event.id };
  });

  app.get(
    "/v1/admin/keys",
    described({ summary: "List keys (never the keys themselves)", tag: "admin", auth: "platform", query: keysQuery, answers: { 200: { description: "every key, or an organization's", schema: z.object({ keys: z.array(keyViewSchema) }) } } }),
    async (req: Req) => {
    await platformOnly(req);
    const org = queryParameters(keysQuery, req.query, "/v1/admin/keys").org;
    return { keys: o.accounts.current.keys(org).map(keyView) };
    },
  );

  app.post(
    "/v1/admin/keys/:keyId/revoke",
    described({ summary: "Revoke a key", tag: "admin", auth: "platform", params: keyPath, answers: { 200: { description: "the key, revoked", schema: keyViewSchema } }, refusals: [404, 503] }),
    async (req: Req) => {
    await platformOnly(req);
    const keyId = param("key id", req.params.keyId);
    const existing = o.accounts.current.keyById(keyId);
    if (!existing) throw new RequestError(404, { error: `there is no key ${JSON.stringify(keyId)}` });
    await record({ type: "api-key-revoked", org_id: existing.orgId, key_id: keyId });
    return keyView(o.accounts.current.keyById(keyId)!);
    },
  );

  app.post(
    "/v1/admin/orgs/:org/credits",
    described({
      summary: "Grant a credit to an organization (§10.7)",
      description: "Invoices of first_period…last_period draw it down after every charge line (CR1–CR4); a final invoice only if the grant came before its period's close.",
      tag: "admin",
      auth: "platform",
      params: orgPath,
      body: { schema: grantBody, contentTypes: ["application/json"], example: { grant_id: "welcome-2024", amount_usd: "50.00", reason: "welcome" } },
      answers: { 201: { description: "the credit-granted event as published to the accounts topic", schema: z.record(z.string(), z.unknown()) } },
      refusals: [409, 503],
    }),
    async (req: Req, reply) => {
      await platformOnly(req);
      const org = param("organization", req.params.org);
      const body = bodyOf(grantBody, req.body, "credit-granted");
      if (o.accounts.current.creditGrant(org, body.grant_id)) throw new RequestError(409, { error: `${org} already has a grant ${JSON.stringify(body.grant_id)}; nothing was changed (a grant id is granted once)` });
      let amount = body.amount_usd;
      if (body.reason === EARLY_USER) {
        const refusal = earlyUserClaimRefusal(o.accounts.current, org);
        if (refusal) throw new RequestError(409, { error: `${refusal}; nothing was changed` });
        if (amount !== undefined && microsOfUsd(amount) !== microsOfUsd(o.earlyUserCreditUsd)) {
          throw new RequestError(400, { error: `amount_usd ${amount} is not the early users' credit ($${o.earlyUserCreditUsd}, LEDGER_EARLY_USER_CREDIT_USD): leave it out; nothing was changed` });
        }
        amount = o.earlyUserCreditUsd;
      }
      if (amount === undefined) throw new RequestError(400, { error: "invalid credit-granted; nothing was changed: amount_usd is required", problems: [{ field: "amount_usd", reason: "is required" }] });
      reply.code(201);
      return record({ ...body, amount_usd: amount, type: "credit-granted", org_id: org });
    },
  );

  app.post(
    "/v1/admin/orgs/:org/credits/:grant/void",
    described({
      summary: "Void a credit grant",
      description: "Its remaining balance applies to no invoice rated after the void is known (a final invoice: one whose period closed after it).",
      tag: "admin",
      auth: "platform",
      params: grantPath,
      body: { schema: voidBody, contentTypes: ["application/json"], example: {}, required: false },
      answers: recorded("credit-voided"),
      refusals: [404, 409, 503],
    }),
    async (req: Req) => {
      await platformOnly(req);
      const org = param("organization", req.params.org);
      const grantId = param("grant id", req.params.grant);
      const body = bodyOf(voidBody, req.body ?? {}, "credit-voided");
      const grant = o.accounts.current.creditGrant(org, grantId);
      if (!grant) throw new RequestError(404, { error: `${org} has no grant ${JSON.stringify(grantId)}; nothing was changed` });
      if (grant.voided) throw new RequestError(409, { error: `${org}'s grant ${JSON.stringify(grantId)} is already void; nothing was changed` });
      return record({ ...body, type: "credit-voided", org_id: org, grant_id: grantId });
    },
  );

  app.get(
    "/v1/admin/limits",
    described({ summary: "An organization's limits, its keys' included", tag: "admin", auth: "platform", query: limitsQuery, answers: { 200: { description: "each limit with its count", schema: z.record(z.string(), z.unknown()) } }, refusals: [503] }),
    async (req: Req) => {
      await platformOnly(req);
      const query = queryParameters(limitsQuery, req.query, "/v1/admin/limits");
      if (query.org === undefined) throw new RequestError(400, { error: "org is required (the organization whose limits to show)" });
      return limitsOf(o, query.org, query.workspace, true);
    },
  );
}
