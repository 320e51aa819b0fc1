import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { ev } from "../support/pipeline";
import { bill, invoiceLines, publishLog } from "../support/invoices";

// §10.5's worked examples (Plus organizations, default catalogue), through Kafka → upgrader →
// sink → ClickHouse, with June closed by markers on every partition and frozen as C3 says.
let stack: LedgerStack;
beforeAll(async () => {
  stack = await freshStack({ label: "invoices" });
  const orgs = ["seats", "traces", "late", "runs"];
  const inTime: object[] = [
    bill.seatAdded("seats", "u1", "2024-05-20T09:00:00Z"),
    bill.seatAdded("seats", "u2", "2024-05-20T09:00:00Z"),
    bill.seatAdded("seats", "u3", "2024-06-16T00:00:00Z"),
    bill.seatRemoved("seats", "u2", "2024-06-20T09:00:00Z"),
    bill.run("runs", "run-1", "2024-06-03T10:00:00Z"),
    bill.run("runs", "run-1", "2024-06-03T10:05:00Z"),
    bill.run("runs", "run-2", "2024-06-04T10:00:00Z"),
  ];
  for (let i = 0; i < 10_400; i++) inTime.push(ev.created("traces", `t-${i}`, `2024-06-${String(1 + (i % 28)).padStart(2, "0")}T12:00:00Z`));
  // A day after each one's creation: within U4's 14 days.
  for (let i = 0; i < 7; i++) inTime.push(ev.feedback("traces", `t-${i}`, `2024-06-${String(2 + i).padStart(2, "0")}T12:00:00Z`));
  for (let i = 0; i < 9_995; i++) inTime.push(ev.created("late", `t-${i}`, "2024-06-10T12:00:00Z"));
  await publishLog(stack, orgs.map((o) => bill.plus(o)), inTime);
  await stack.waitUntilDrained({ timeoutMs: 120_000 });
  await stack.invoicer.writeMarkers("2024-06", "command");
  const late: object[] = [];
  for (let i = 0; i < 20; i++) late.push(ev.created("late", `late-${i}`, "2024-06-25T12:00:00Z"));
  await publishLog(stack, [], late);
  await stack.waitUntilDrained({ timeoutMs: 120_000 });
  await stack.invoicer.waitUntilFinal("2024-06", 60_000);
}, 240_000);
afterAll(async () => {
  await stack?.stop();
});

describe("§10.5 worked examples through the pipeline", () => {
  test("seats: two at June's start, u3 prorated 15/30, July bills u1 and u3", async () => {
    expect(await invoiceLines(stack, "seats", "2024-06")).toEqual({
      status: "closed",
      total: "97.50",
      lines: [
        { kind: "seats", usage_period: "2024-06", quantity: 2, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "78.00" },
        { kind: "seat_proration", usage_period: "2024-06", user_id: "u3", at: "2024-06-16T00:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "19.50" },
      ],
    });
    expect(await invoiceLines(stack, "seats", "2024-07")).toEqual({
      status: "open",
      total: "78.00",
      lines: [{ kind: "seats", usage_period: "2024-07", quantity: 2, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "78.00" }],
    });
  });

  test("10,400 base traces, 10,000 free, and 7 upgrades", async () => {
    expect(await invoiceLines(stack, "traces", "2024-06")).toEqual({
      status: "closed",
      total: "0.2315",
      lines: [
        { kind: "base_traces", usage_period: "2024-06", quantity: 10_400, free_quantity: 10_000, unit_price_usd: "0.0005", amount_usd: "0.20" },
        { kind: "extended_upgrades", usage_period: "2024-06", quantity: 7, free_quantity: 0, unit_price_usd: "0.0045", amount_usd: "0.0315" },
      ],
    });
  });

  test("20 June traces after June closed: June unchanged, July adjusts June at June's allotment", async () => {
    expect(await invoiceLines(stack, "late", "2024-06")).toEqual({
      status: "closed",
      total: "0.00",
      lines: [{ kind: "base_traces", usage_period: "2024-06", quantity: 9_995, free_quantity: 9_995, unit_price_usd: "0.0005", amount_usd: "0.00" }],
    });
    expect(await invoiceLines(stack, "late", "2024-07")).toEqual({
      status: "open",
      total: "0.0075",
      lines: [{ kind: "adjustment", usage_period: "2024-06", adjusts: "base_traces", quantity: 20, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0075" }],
    });
  });

  test("deployment runs: the same run_id twice is one run; a resumed run is another", async () => {
    expect(await invoiceLines(stack, "runs", "2024-06")).toEqual({
      status: "closed",
      total: "0.01",
      lines: [{ kind: "deployment_runs", usage_period: "2024-06", quantity: 2, free_quantity: 0, unit_price_usd: "0.005", amount_usd: "0.01" }],
    });
  });

  test("the final invoices are stored in invoice_lines_v1", async () => {
    const rs = await stack.clickhouse.client.query({
      query: `SELECT org_id, count() AS lines FROM ${stack.clickhouse.table("invoice_lines_v1")} FINAL WHERE period = '2024-06' GROUP BY org_id ORDER BY org_id`,
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([
      { org_id: "late", lines: 1 },
      { org_id: "runs", lines: 1 },
      { org_id: "seats", lines: 2 },
      { org_id: "traces", lines: 2 },
    ]);
  });
});
