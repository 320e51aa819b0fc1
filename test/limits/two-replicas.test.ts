import { afterAll, beforeAll, expect, test } from "vitest";
import { ledgerApi } from "../support/ledger-api";
import { startReplicas, type Replicas } from "../support/replicas";
import { waitFor } from "../support/wait";

// Two ingest processes sharing one Redis and one stack, hammering the same limits (§6.5).
let ledger: Replicas;
let apis: ReturnType<typeof ledgerApi>[];
beforeAll(async () => {
  ledger = await startReplicas(2, "two");
  apis = ledger.urls.map((url) => ledgerApi(url, ledger.platformKey));
}, 180_000);
afterAll(async () => {
  await ledger?.stop();
});

const now = () => new Date().toISOString();
const created = (trace: string, retention = "base") => ({ id: `c-${trace}`, type: "trace-created", occurred_at: now(), org_id: "race", workspace_id: "prod", trace_id: trace, project_id: "p", retention });
const feedback = (trace: string) => ({ id: `f-${trace}`, type: "feedback-added", occurred_at: now(), org_id: "race", workspace_id: "prod", trace_id: trace, run_id: "r", feedback_id: `fb-${trace}` });

/** Runs `jobs` with `width` at a time, alternating replicas, and returns every status. */
async function hammer<T>(jobs: ((api: ReturnType<typeof ledgerApi>) => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < jobs.length; i = next++) out[i] = await jobs[i]!(apis[i % apis.length]!);
    }),
  );
  return out;
}

async function billed(): Promise<{ base: number; upgrades: number }> {
  const rows = (await apis[0]!.call("GET", "/v1/usage?org=race", ledger.platformKey)).body.rows as { base_traces: number; extended_upgrades: number }[];
  return { base: rows.reduce((s, r) => s + r.base_traces, 0), upgrades: rows.reduce((s, r) => s + r.extended_upgrades, 0) };
}

test("a key's rate limit is shared: 2,400 requests over two replicas, exactly 2,000 admitted (overshoot 0)", async () => {
  const { key } = await apis[0]!.key("race", "prod");
  // A key created on the primary works on the replica once its accounts catch up (about a second).
  await waitFor("the replica to know the key", async () => ((await apis[1]!.post(key, [])).status === 202 ? true : undefined));
  const statuses = await hammer(Array.from({ length: 2_399 }, () => (api) => api.post(key, []).then((r) => r.status)), 32);
  expect(statuses.filter((s) => s === 202).length + 1).toBe(2_000);
  expect(statuses.filter((s) => s === 429).length).toBe(400);
  expect(statuses.every((s) => s === 202 || s === 429)).toBe(true);
});

test("usage limits hold across replicas: every admitted trace billed, none beyond the limit", async () => {
  await apis[0]!.org("race", { plan: "plus", payment_method: true });
  await apis[0]!.workspace("race", "prod", { all_traces_limit: 1_000, extended_traces_limit: 100 });
  // Limit values reach the other replica with its account reload (§6.5 allows 60 s).
  await waitFor("the replica to know the limits", async () => {
    const limits = (await apis[1]!.limits("race", "prod")).find((l) => l.limit === "workspace:extended_traces");
    return limits?.limit_value === 100 ? true : undefined;
  });
  const before = await billed();
  const requests = Array.from({ length: 120 }, (_, r) => Array.from({ length: 25 }, (_, i) => created(`t${r}-${i}`)));
  const statuses = await hammer(requests.map((events) => (api) => api.post(ledger.platformKey, events).then((r) => r.status)), 16);
  const admitted = statuses.filter((s) => s === 202).length;
  expect(statuses.every((s) => s === 202 || s === 429)).toBe(true);
  expect(admitted * 25 + before.base).toBe(1_000);
  const triggers = Array.from({ length: 30 }, (_, r) => Array.from({ length: 10 }, (_, i) => feedback(`t${r}-${i}`)));
  const tStatuses = await hammer(triggers.map((events) => (api) => api.post(ledger.platformKey, events).then((r) => r.status)), 16);
  expect(tStatuses.filter((s) => s === 202).length * 10).toBe(100);
  const bill = await waitFor("the bill to settle", async () => {
    const b = await billed();
    return b.base === 1_000 && b.upgrades === 100 ? b : undefined;
  }, 60_000);
  expect(bill).toEqual({ base: 1_000, upgrades: 100 });
});

test("a revocation on the primary takes effect on the replica within 10 s", async () => {
  const { key, key_id } = await apis[0]!.key("race", "prod");
  await waitFor("the replica to know the key", async () => ((await apis[1]!.post(key, [])).status === 202 ? true : undefined));
  await apis[0]!.admin("POST", `/v1/admin/keys/${key_id}/revoke`);
  const revokedAt = Date.now();
  await waitFor("the replica to refuse the key", async () => ((await apis[1]!.post(key, [])).status === 401 ? true : undefined), 10_000);
  expect(Date.now() - revokedAt).toBeLessThan(10_000);
});
