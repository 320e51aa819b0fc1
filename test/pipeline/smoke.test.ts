import { afterAll, beforeAll, expect, test } from "vitest";
import { validateBatch } from "@ledger/events";
import { queryUsage } from "@ledger/clickhouse";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";

let stack: LedgerStack;
beforeAll(async () => {
  stack = await freshStack({ label: "smoke" });
});
afterAll(async () => {
  await stack?.stop();
});

test("a trace created in June and upgraded in July", async () => {
  const events = validateBatch([
    { id: "e-1", type: "trace-created", occurred_at: "2024-06-30T23:59:59.999Z", org_id: "acme", workspace_id: "prod", trace_id: "t-1", project_id: "chatbot", retention: "base" },
    { id: "e-2", type: "feedback-added", occurred_at: "2024-07-01T00:00:00.000Z", org_id: "acme", workspace_id: "prod", trace_id: "t-1", run_id: "r-9", feedback_id: "f-1" },
  ]);
  await stack.publisher.publish(events);
  await stack.waitUntilDrained();
  const rows = await queryUsage(stack.clickhouse, { by: "workspace" });
  expect(rows).toEqual([
    { org_id: "acme", workspace_id: "prod", period: "2024-06", base_traces: 1, extended_upgrades: 0, base_charge_usd: "0.0005", upgrade_charge_usd: "0.00" },
    { org_id: "acme", workspace_id: "prod", period: "2024-07", base_traces: 0, extended_upgrades: 1, base_charge_usd: "0.00", upgrade_charge_usd: "0.0045" },
  ]);
});
