import type { LedgerStack } from "@ledger/stack";

/** A thin client of a running ledger's HTTP API for tests: the admin API and event posts. */
export function ledgerApi(url: string, platformKey: string) {
  const call = async (method: string, path: string, key: string | null, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(key ? { "x-api-key": key } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await call(method, path, platformKey, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  return {
    call,
    admin,
    org: (org: string, body: Record<string, unknown>) => admin("PUT", `/v1/admin/orgs/${org}`, body),
    workspace: (org: string, ws: string, body: Record<string, unknown>) => admin("PUT", `/v1/admin/orgs/${org}/workspaces/${ws}`, body),
    key: async (org: string, ws: string) => (await admin("POST", "/v1/admin/keys", { org_id: org, workspace_id: ws, kind: "service" })) as { key: string; key_id: string },
    post: (key: string | null, events: readonly object[], headers: Record<string, string> = {}) => call("POST", "/v1/events", key, events, headers),
    limits: async (org: string, ws?: string) =>
      (await admin("GET", `/v1/admin/limits?org=${org}${ws ? `&workspace=${ws}` : ""}`)).limits as { limit: string; workspace_id?: string; key_id?: string; limit_value: number | null; current: number }[],
  };
}

/** Messages ever published to the trace-events and runs topics: unchanged means a refused request published nothing. */
export async function publishedCount(stack: LedgerStack): Promise<bigint> {
  let total = 0n;
  for (const topic of [stack.topics.events, stack.topics.runs]) {
    const offsets = await stack.admin.fetchTopicOffsets(topic);
    total += offsets.reduce((s, o) => s + BigInt(o.high), 0n);
  }
  return total;
}
