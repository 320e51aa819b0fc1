import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { ev } from "../support/pipeline";
import { bill, invoiceLines, publishLog } from "../support/invoices";

// §10.5's worked examples (Plus organizations, default catalogue), through Kafka → upgrader →
// sink → ClickHouse, with June closed by markers on every partition and frozen as C3 says.
let stack: LedgerStack;
// The ledger's clock moves with the log, so seat charges are learned when they happen (SA2).
let nowMs = Date.parse("2024-05-20T10:00:00Z");
beforeAll(async () => {
  stack = await freshStack({ label: "invoices", clock: { now: () => nowMs } });
  const orgs = ["seats", "traces", "late", "runs"];
  await publishLog(stack, orgs.map((o) => bill.plus(o)), []);
  /** The clock at `at`, the events in ClickHouse, and the invoicer's seat pass done. */
  const seatStep = async (at: string, events: object[] = []) => {
    nowMs = Date.parse(at);
    await publishLog(stack, [], events);
    await stack.waitUntilDrained({ timeoutMs: 60_000 });
    await stack.invoicer.issueDueSeats(nowMs);
  };
  await seatStep("2024-05-20T10:00:00Z", [bill.seatAdded("seats", "u1", "2024-05-20T09:00:00Z"), bill.seatAdded("seats", "u2", "2024-05-20T09:00:00Z")]);
  await seatStep("2024-05-21T02:00:00Z");
  await seatStep("2024-06-16T10:00:00Z", [bill.seatAdded("seats", "u3", "2024-06-16T00:00:00Z")]);
  await seatStep("2024-06-17T02:00:00Z");
  await seatStep("2024-06-20T10:00:00Z", [bill.seatRemoved("seats", "u2", "2024-06-20T09:00:00Z")]);
  nowMs = Date.parse("2024-07-02T12:00:00Z");
  const inTime: object[] = [
    bill.run("runs", "run-1", "2024-06-03T10:00:00Z"),
    bill.run("runs", "run-1", "2024-06-03T10:05:00Z"),
    bill.run("runs", "run-2", "2024-06-04T10:00:00Z"),
  ];
  for (let i = 0; i < 10_400; i++) inTime.push(ev.created("traces", `t-${i}`, `2024-06-${String(1 + (i % 28)).padStart(2, "0")}T12:00:00Z`));
  // A day after each one's creation: within U4's 14 days.
  for (let i = 0; i < 7; i++) inTime.push(ev.feedback("traces", `t-${i}`, `2024-06-${String(2 + i).padStart(2, "0")}T12:00:00Z`));
  for (let i = 0; i < 9_995; i++) inTime.push(ev.created("late", `t-${i}`, "2024-06-10T12:00:00Z"));
  await publishLog(stack, [], inTime);
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
  test("seats in advance and seat invoices: May's additions on 20 May's, u3 on 16 June's; May's invoice holds June's two seats, June's holds July's (u1, u3)", async () => {
    // SA2: each day's prorations on that day's seat invoice, issued the next day at 01:00.
    expect(await invoiceLines(stack, "seats", "2024-05-20")).toEqual({
      status: "closed",
      total: "29.25",
      lines: [
        { kind: "seat_proration", usage_period: "2024-05", user_id: "u1", at: "2024-05-20T09:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "14.625" },
        { kind: "seat_proration", usage_period: "2024-05", user_id: "u2", at: "2024-05-20T09:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "14.625" },
      ],
    });
    expect(await invoiceLines(stack, "seats", "2024-06-16")).toEqual({
      status: "closed",
      total: "19.50",
      lines: [{ kind: "seat_proration", usage_period: "2024-06", user_id: "u3", at: "2024-06-16T00:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "19.50" }],
    });
    // SA1: the month closed holds the next one's seats, as known at its close.
    expect(await invoiceLines(stack, "seats", "2024-05")).toEqual({
      status: "closed",
      total: "78.00",
      lines: [{ kind: "seats", usage_period: "2024-06", quantity: 2, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "78.00" }],
    });
    expect(await invoiceLines(stack, "seats", "2024-06")).toEqual({
      status: "closed",
      total: "78.00",
      lines: [{ kind: "seats", usage_period: "2024-07", quantity: 2, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "78.00" }],
    });
    expect(await invoiceLines(stack, "seats", "2024-07")).toEqual({
      status: "open",
      total: "78.00",
      lines: [{ kind: "seats", usage_period: "2024-08", quantity: 2, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "78.00" }],
    });
    // Every invoice listed, with its kind.
    const { invoices } = await stack.invoicer.reads.index("seats");
    expect(invoices.filter((i) => i.status === "closed").map((i) => [i.invoice_id, i.kind, i.total_usd])).toEqual([
      ["monthly/2024-06/seats", "monthly", "78.00"],
      ["seats/2024-06-16/seats", "seats", "19.50"],
      ["monthly/2024-05/seats", "monthly", "78.00"],
      ["seats/2024-05-20/seats", "seats", "29.25"],
    ]);
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
      { org_id: "seats", lines: 1 },
      { org_id: "traces", lines: 2 },
    ]);
  });
});
