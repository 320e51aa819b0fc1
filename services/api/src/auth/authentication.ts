import { hashApiKey, sameSecret, type ApiKeyRecord } from "@ledger/accounts";
import type { AccountCache } from "./account-cache";

/** Who sent a request: the API tier with the platform key, or a workspace's API key (§7). */
export type Principal = { kind: "platform" } | { kind: "key"; key: ApiKeyRecord };

/** 401 / 403 with a sentence that says what was wrong. */
export class AccessError extends Error {
  readonly retriable = false;
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
    this.name = "AccessError";
  }
}

const header = (headers: Record<string, string | string[] | undefined>, name: string) => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * Finds the principal of a request from `x-api-key` (or `Authorization: Bearer`), and checks
 * `x-tenant-id` against the key's workspace. Keys are compared by their sha256 only.
 */
export async function authenticate(
  headers: Record<string, string | string[] | undefined>,
  accounts: AccountCache,
  platformKey: string,
): Promise<Principal> {
  const bearer = /^Bearer\s+(\S+)$/i.exec(header(headers, "authorization") ?? "")?.[1];
  const presented = header(headers, "x-api-key") ?? bearer;
  if (!presented) throw new AccessError(401, "no API key: send it in the x-api-key header");
  if (sameSecret(presented, platformKey)) return { kind: "platform" };
  const hash = hashApiKey(presented);
  let key = accounts.current.keyByHash(hash);
  if (!key) {
    await accounts.refreshIfStale();
    key = accounts.current.keyByHash(hash);
  }
  if (!key) throw new AccessError(401, "the API key in x-api-key is not a key of this ledger");
  if (key.revoked) throw new AccessError(401, `the API key in x-api-key (${key.keyId}) was revoked`);
  const tenant = header(headers, "x-tenant-id");
  if (tenant !== undefined && tenant !== key.workspaceId) {
    throw new AccessError(403, `x-tenant-id names workspace ${JSON.stringify(tenant)}, but the API key belongs to workspace ${JSON.stringify(key.workspaceId)}`);
  }
  return { kind: "key", key };
}

/**
 * A workspace key writes only its own organization's and workspace's events. Seats belong to
 * the organization, not to a workspace: only the API tier (the platform key) writes them.
 */
export function authorizeEvents(principal: Principal, events: readonly { type: string; org_id: string; workspace_id?: string }[], where: (i: number) => string): void {
  if (principal.kind === "platform") return;
  const { orgId, workspaceId } = principal.key;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.workspace_id === undefined) throw new AccessError(403, `${where(i)}: ${e.type} events are written with the platform key, not a workspace's API key; nothing was published`);
    if (e.org_id !== orgId) throw new AccessError(403, `${where(i)}: org_id ${JSON.stringify(e.org_id)} is not the organization of the API key (${JSON.stringify(orgId)}); nothing was published`);
    if (e.workspace_id !== workspaceId) throw new AccessError(403, `${where(i)}: workspace_id ${JSON.stringify(e.workspace_id)} is not the workspace of the API key (${JSON.stringify(workspaceId)}); nothing was published`);
  }
}

/** Reading an organization's data: the platform key, or a key of that organization. */
export function authorizeOrg(principal: Principal, orgId: string): void {
  if (principal.kind === "key" && principal.key.orgId !== orgId) {
    throw new AccessError(403, `the API key belongs to organization ${JSON.stringify(principal.key.orgId)}, not ${JSON.stringify(orgId)}`);
  }
}

type Headers = Record<string, string | string[] | undefined>;

/** Who a request is, and the checks routes make of it; built once per API replica. */
export class Authenticator {
  constructor(
    private readonly accounts: AccountCache,
    private readonly platformKey: string,
  ) {}

  principalOf(req: { headers: Headers }): Promise<Principal> {
    return authenticate(req.headers, this.accounts, this.platformKey);
  }

  /** The admin API and the analysts' SQL: the platform key only. */
  async platform(req: { headers: Headers }, what = "the admin API takes the platform key only"): Promise<void> {
    if ((await this.principalOf(req)).kind !== "platform") throw new AccessError(403, what);
  }

  /** The LangSmith API: a workspace's key (the platform key names no workspace). */
  async workspaceKey(req: { headers: Headers }): Promise<Extract<Principal, { kind: "key" }>> {
    const principal = await this.principalOf(req);
    if (principal.kind !== "key") throw new AccessError(403, "the LangSmith API takes a workspace API key in x-api-key (the platform key names no workspace)");
    return principal;
  }
}
