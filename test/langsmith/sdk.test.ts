import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Client, RunTree } from "langsmith";
import { traceable } from "langsmith/traceable";
import { queryUsage } from "@ledger/clickhouse";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { startFaultProxy } from "../support/fault-proxy";
import { ledgerApi } from "../support/ledger-api";

// The real LangSmith SDK (pinned in package.json), unchanged, pointed at the ledger with a
// workspace key, as a user sets it up: tracing on through the environment.
process.env.LANGSMITH_TRACING = "true";
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
beforeAll(async () => {
  stack = await freshStack({ label: "sdk", ingest: true });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
});
afterAll(async () => {
  await stack?.stop();
});

async function usageOf(org: string) {
  await stack.waitUntilDrained();
  const [row] = await queryUsage(stack.clickhouse, { org });
  return row;
}

test.each([
  ["gzip on", true],
  ["gzip off", false],
])("traceable functions, run trees ended in a later batch, feedback and an annotation queue (%s, a 503 retried)", async (_label, gzip) => {
  const org = gzip ? "sdk-gz" : "sdk-plain";
  await api.org(org, { plan: "plus", payment_method: true });
  await api.admin("PUT", `/v1/admin/orgs/${org}/workspaces/prod/projects/vip`, { default_retention: "extended" });
  const { key } = await api.key(org, "prod");
  // The first run batch is answered 503: the SDK must send it again.
  const proxy = await startFaultProxy(stack.url!, {
    fail: (req, seen) => req.url!.startsWith("/runs/multipart") && seen.filter((s) => s.url.startsWith("/runs/multipart")).length === 1,
    info: (info) => ({ ...info, instance_flags: { ...info.instance_flags, gzip_body_enabled: gzip, zstd_compression_enabled: false } }),
  });
  try {
    const client = new Client({ apiUrl: proxy.url, apiKey: key, workspaceId: "prod" });
    const inner = traceable(async (x: number) => x * 2, { name: "inner", client, project_name: "default" });
    const outer = traceable(async (x: number) => (await inner(x)) + 1, { name: "outer", client, project_name: "default" });
    expect(await outer(1)).toBe(3);
    expect(await outer(2)).toBe(5);
    await traceable(async () => "ok", { name: "vip", client, project_name: "vip" })();

    const root = new RunTree({ name: "root", run_type: "chain", client, project_name: "default" });
    await root.postRun();
    const child = root.createChild({ name: "child", run_type: "llm" });
    await child.postRun();
    await client.awaitPendingTraceBatches();
    // The ends arrive in a later batch, as patches.
    await child.end({ text: "hi" });
    await child.patchRun();
    await root.end({ done: true });
    await root.patchRun();
    await client.awaitPendingTraceBatches();
    await client.createFeedback(child.id, "correct", { score: 1, traceId: root.id, sessionId: undefined });
    await client.addRunsToAnnotationQueue(randomUUID(), [{ runId: root.id, sessionId: randomUUID(), startTime: Date.now() }]);
    await client.awaitPendingTraceBatches();

    // 4 traces (2 outer, vip, root); upgrades: vip at creation, root by feedback (the queue entry is the same trace).
    expect(await usageOf(org)).toMatchObject({ base_traces: 4, extended_upgrades: 2 });
    const multipart = proxy.seen.filter((s) => s.url.startsWith("/runs/multipart"));
    expect(multipart[0]!.status).toBe(503);
    expect(multipart.slice(1).every((s) => s.status === 202)).toBe(true);
    expect(multipart.every((s) => s.contentType?.startsWith("multipart/form-data"))).toBe(true);
    expect(multipart.every((s) => (s.encoding === "gzip") === gzip)).toBe(true);

    // The SDK reads a run back (GET /runs/{id}): its creation with its end laid over it.
    const stored = await client.readRun(child.id);
    expect(stored).toMatchObject({ id: child.id, trace_id: root.id, name: "child", run_type: "llm", outputs: { text: "hi" } });
    expect(stored.end_time).toBeTruthy();
  } finally {
    await proxy.close();
  }
});

test("a Developer organization without a payment method: the SDK gets 429s past the trace cap, nothing billed beyond it", async () => {
  const org = "sdk-dev";
  const { key } = await api.key(org, "prod");
  // 4,995 of the month's 5,000 traces already used.
  for (let i = 0; i < 5; i++) {
    const events = Array.from({ length: i < 4 ? 1_000 : 995 }, (_, j) => ({ id: `pre-${i}-${j}`, type: "trace-created", occurred_at: new Date().toISOString(), org_id: org, workspace_id: "prod", trace_id: `pre-${i}-${j}`, project_id: "default", retention: "base" }));
    expect((await api.post(TEST_PLATFORM_KEY, events)).status).toBe(202);
  }
  const proxy = await startFaultProxy(stack.url!);
  try {
    const client = new Client({ apiUrl: proxy.url, apiKey: key, callerOptions: { maxRetries: 1 } });
    const traced = traceable(async (i: number) => i, { name: "step", client, project_name: "default" });
    for (let i = 0; i < 5; i++) {
      await traced(i);
      await client.awaitPendingTraceBatches();
    }
    for (let i = 0; i < 5; i++) await traced(i);
    await client.awaitPendingTraceBatches();
    expect(proxy.seen.some((s) => s.status === 429)).toBe(true);
    expect(await usageOf(org)).toMatchObject({ base_traces: 5_000 });
  } finally {
    await proxy.close();
  }
});
