import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Client, RunTree } from "langsmith";
import { traceable } from "langsmith/traceable";
import { queryUsage } from "@ledger/clickhouse";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";

// The real LangSmith SDK (pinned), unchanged, pointed at the ledger with a workspace key, as a
// user sets it up: tracing on through the environment.
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

test("traceable functions, run trees, feedback and an annotation queue are billed by the rules", async () => {
  await api.org("sdk", { plan: "plus", payment_method: true });
  await api.admin("PUT", "/v1/admin/orgs/sdk/workspaces/prod/projects/vip", { default_retention: "extended" });
  const { key } = await api.key("sdk", "prod");
  const client = new Client({ apiUrl: stack.url!, apiKey: key, workspaceId: "prod" });

  // Two traces of nested traceable functions in the default project.
  const inner = traceable(async (x: number) => x * 2, { name: "inner", client, project_name: "default" });
  const outer = traceable(async (x: number) => (await inner(x)) + 1, { name: "outer", client, project_name: "default" });
  expect(await outer(1)).toBe(3);
  expect(await outer(2)).toBe(5);
  // One trace in a project whose default retention is extended.
  const vip = traceable(async () => "ok", { name: "vip", client, project_name: "vip" });
  await vip();

  // A run tree whose child gets feedback, and whose root goes to an annotation queue.
  const root = new RunTree({ name: "root", run_type: "chain", client, project_name: "default" });
  await root.postRun();
  const child = root.createChild({ name: "child", run_type: "llm" });
  await child.postRun();
  await child.end({ text: "hi" });
  await child.patchRun();
  await root.end({ done: true });
  await root.patchRun();
  await client.awaitPendingTraceBatches();
  await client.createFeedback(child.id, "correct", { score: 1 });
  await client.addRunsToAnnotationQueue(randomUUID(), [root.id]);
  await client.awaitPendingTraceBatches();

  await stack.waitUntilDrained();
  const [row] = await queryUsage(stack.clickhouse, { org: "sdk" });
  // 4 traces (2 outer, vip, root); upgrades: vip at creation, root by feedback (and the queue: same trace).
  expect(row).toMatchObject({ org_id: "sdk", base_traces: 4, extended_upgrades: 2 });
});
