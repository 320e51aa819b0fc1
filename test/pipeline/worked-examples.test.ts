import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { queryUsage } from "@ledger/clickhouse";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { billThroughPipeline, ev, referenceTuples } from "../support/pipeline";

// Every test: fresh topics, consumer groups and database; the real Kafka → upgrader → sink path.
let stack: LedgerStack;
beforeEach(async () => {
  stack = await freshStack({ label: "examples" });
});
afterEach(async () => {
  await stack?.stop();
});

describe("the spec's worked examples (§5), through the real pipeline", () => {
  test("each row of the table, one org per row", async () => {
    const log = [
      // created 06-30 23:59:59.999, feedback 07-01 00:00:00.000 → base June, upgrade July
      ev.created("ex1", "t", "2024-06-30T23:59:59.999Z"),
      ev.feedback("ex1", "t", "2024-07-01T00:00:00.000Z"),
      // created 06-10 extended → base and upgrade in June
      ev.created("ex2", "t", "2024-06-10T10:00:00Z", "extended"),
      // created 06-15, rule 06-20, feedback 07-02 → base and upgrade in June
      ev.created("ex3", "t", "2024-06-15T10:00:00Z"),
      ev.rule("ex3", "t", "2024-06-20T10:00:00Z"),
      ev.feedback("ex3", "t", "2024-07-02T10:00:00Z"),
      // created 06-20, feedback exactly 14 days later → base June, trace_expired
      ev.created("ex4", "t", "2024-06-20T00:00:00.000Z"),
      ev.feedback("ex4", "t", "2024-07-04T00:00:00.000Z", { id: "late" }),
      // the same trace-created delivered 3 times → base 1
      ev.created("ex5", "t", "2024-06-20T00:00:00Z", "base", { id: "dup" }),
      ev.created("ex5", "t", "2024-06-20T00:00:00Z", "base", { id: "dup" }),
      ev.created("ex5", "t", "2024-06-20T00:00:00Z", "base", { id: "dup" }),
      // feedback 07-02 for a trace never created → upgrade July
      ev.feedback("ex6", "t", "2024-07-02T00:00:00Z"),
    ];
    const billed = await billThroughPipeline(stack, log);
    expect(billed).toEqual([
      ["ex1", "prod", "2024-06", 1, 0],
      ["ex1", "prod", "2024-07", 0, 1],
      ["ex2", "prod", "2024-06", 1, 1],
      ["ex3", "prod", "2024-06", 1, 1],
      ["ex4", "prod", "2024-06", 1, 0],
      ["ex5", "prod", "2024-06", 1, 0],
      ["ex6", "prod", "2024-07", 0, 1],
    ]);
    expect(billed).toEqual(referenceTuples(log));

    // U4: the expired trigger is recorded as rejected, with its reason, not dropped.
    const rs = await stack.clickhouse.client.query({
      query: `SELECT org_id, event_id, reason, expired_at FROM ${stack.clickhouse.table("trigger_rejections_v1")} FINAL`,
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([{ org_id: "ex4", event_id: "late", reason: "trace_expired", expired_at: "2024-07-04 00:00:00.000" }]);

    // Per organization the workspaces are summed; charges are exact decimals.
    expect(await queryUsage(stack.clickhouse, { org: "ex2" })).toEqual([
      { org_id: "ex2", period: "2024-06", base_traces: 1, extended_upgrades: 1, base_charge_usd: "0.0005", upgrade_charge_usd: "0.0045" },
    ]);
  });
});
