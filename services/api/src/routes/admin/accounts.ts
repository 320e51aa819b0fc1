import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { generateApiKey, type ApiKeyRecord } from "@ledger/accounts";
import { ACCOUNT_EVENTS, identifier, validateOf, type AccountEvent } from "@ledger/events";
import { isRetriable } from "@ledger/kafka";
import type { Clock } from "@ledger/limits";
import type { AccountCache } from "../../auth/account-cache";
import type { Authenticator } from "../../auth/authentication";
import type { Admission } from "../../intake/admission";
import { limitsOf } from "../../intake/limits-view";
import { bodyObject } from "../../http/json-text";
import { RequestError } from "../../http/request-error";

type Req = FastifyRequest<{ Params: Record<string, string>; Querystring: Record<string, string | undefined>; Body: unknown }>;

export interface AccountRoutesOptions {
  auth: Authenticator;
  accounts: AccountCache;
  admission: Admission;
  clock: Clock;
  /** Publishes an account event to the accounts topic and resolves after Kafka acknowledged it. */
  publishAccount: (event: AccountEvent) => Promise<void>;
}

/** An identifier from a path or a parameter, or a 400 naming it. */
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
    const created = o.accounts.current.keyById(keyId)!;
    reply.code(201);
    // The only time the key itself leaves the ledger.
    return { ...keyView(created), key, event_id: event.id };
  });

  app.get("/v1/admin/keys", async (req: Req) => {
    await platformOnly(req);
    const org = req.query.org === undefined ? undefined : param("org", req.query.org);
    return { keys: o.accounts.current.keys(org).map(keyView) };
  });

  app.post("/v1/admin/keys/:keyId/revoke", async (req: Req) => {
    await platformOnly(req);
    const keyId = param("key id", req.params.keyId);
    const existing = o.accounts.current.keyById(keyId);
    if (!existing) throw new RequestError(404, { error: `there is no key ${JSON.stringify(keyId)}` });
    await record({ type: "api-key-revoked", org_id: existing.orgId, key_id: keyId });
    return keyView(o.accounts.current.keyById(keyId)!);
  });

  app.get("/v1/admin/limits", async (req: Req) => {
    await platformOnly(req);
    if (req.query.org === undefined) throw new RequestError(400, { error: "org is required (the organization whose limits to show)" });
    const orgId = param("org", req.query.org);
    const wsFilter = req.query.workspace === undefined ? undefined : param("workspace", req.query.workspace);
    return limitsOf(o, orgId, wsFilter, true);
  });
}
