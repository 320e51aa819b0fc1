import { afterEach, describe, expect, test } from "vitest";
import { FAMILY_HEADER, INGEST_EVENTS, RECEIVED_AT_HEADER, traceKey, validateBatchOf } from "@ledger/events";
import { publish, watermarksOf } from "@ledger/kafka";
import { heldSeatCharges, queryUsage } from "@ledger/clickhouse";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { ev } from "../support/pipeline";
import { bill, invoiceLines, publishLog } from "../support/invoices";

// C2–C4 through the real pipeline: late effects of every kind, after one and after two closes.
let stack: LedgerStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

// No free allotment and a seat price, so every late effect shows in money.
const contract = (org: string) => bill.plus(org, "2024-01-01T00:00:00Z", { plan: "enterprise", free_base_traces: 0, seat_price_usd: "30.00" });

describe("late events (C2–C4)", () => {
  test("after one close and after two: every kind adjusts its own period on the first open invoice, at its own prices", async () => {
    stack = await freshStack({ label: "late" });
    const s = stack;
    await publishLog(s, [contract("acme")], [
      ev.created("acme", "t-1", "2024-06-02T00:00:00Z", "base", { id: "c-t1" }),
      ev.created("acme", "t-2", "2024-06-03T00:00:00Z"),
      ev.created("acme", "t-3", "2024-06-04T00:00:00Z"),
      bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z"),
      bill.run("acme", "run-1", "2024-06-05T00:00:00Z"),
    ]);
    await s.waitUntilDrained({ timeoutMs: 60_000 });
    await s.invoicer.writeMarkers("2024-06", "command");

    // Late for June: two traces, an upgrade of t-2 (its trigger came after the marker), a seat
    // added in May (changes May's proration and June's start), a run; and a retry of t-1's
    // creation (same id), which was in time and must not be booked again.
    await publishLog(s, [], [
      ev.created("acme", "t-4", "2024-06-20T00:00:00Z"),
      ev.created("acme", "t-5", "2024-06-21T00:00:00Z"),
      ev.feedback("acme", "t-2", "2024-06-10T00:00:00Z"),
      ev.created("acme", "t-1", "2024-06-02T00:00:00Z", "base", { id: "c-t1" }),
      bill.seatAdded("acme", "u2", "2024-05-16T12:00:00Z"),
      bill.run("acme", "run-2", "2024-06-28T00:00:00Z"),
      bill.run("acme", "run-1", "2024-06-05T00:00:00Z"),
      ev.created("acme", "t-j1", "2024-07-01T00:00:00Z"),
    ]);
    await s.waitUntilDrained({ timeoutMs: 60_000 });
    await s.invoicer.waitUntilFinal("2024-06", 60_000);

    // June (final): its usage, and July's seat in advance (u1, present at July's first instant).
    // u1's June proration is a seat charge: a seat invoice's, not the month's (SA2).
    expect(await invoiceLines(s, "acme", "2024-06")).toEqual({
      status: "closed",
      total: "30.0065",
      lines: [
        { kind: "base_traces", usage_period: "2024-06", quantity: 3, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0015" },
        { kind: "deployment_runs", usage_period: "2024-06", quantity: 1, free_quantity: 0, unit_price_usd: "0.005", amount_usd: "0.005" },
        { kind: "seats", usage_period: "2024-07", quantity: 1, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "30.00" },
      ],
    });

    await s.invoicer.writeMarkers("2024-07", "command");
    // Late after the second close: one more June trace and a July one.
    await publishLog(s, [], [ev.created("acme", "t-6", "2024-06-22T00:00:00Z"), ev.created("acme", "t-j2", "2024-07-02T00:00:00Z")]);
    await s.waitUntilDrained({ timeoutMs: 60_000 });
    await s.invoicer.waitUntilFinal("2024-07", 60_000);

    // July (final): its own trace, August's seats in advance (u1, and u2 known at July's close),
    // and June's adjustments for what came late. Seats are never adjusted (SA2).
    expect(await invoiceLines(s, "acme", "2024-07")).toEqual({
      status: "closed",
      total: "60.011",
      lines: [
        { kind: "base_traces", usage_period: "2024-07", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
        { kind: "seats", usage_period: "2024-08", quantity: 2, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "60.00" },
        { kind: "adjustment", usage_period: "2024-06", adjusts: "base_traces", quantity: 2, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.001" },
        { kind: "adjustment", usage_period: "2024-06", adjusts: "extended_upgrades", quantity: 1, free_quantity: 0, unit_price_usd: "0.0045", amount_usd: "0.0045" },
        { kind: "adjustment", usage_period: "2024-06", adjusts: "deployment_runs", quantity: 1, free_quantity: 0, unit_price_usd: "0.005", amount_usd: "0.005" },
      ],
    });
    // The rows behind lines, from the raw tables: the late June traces (not t-1's retry, which
    // was booked in time), the upgrade caused after the close, the seat events.
    const sources = async (n: number) => (await s.invoicer.reads.lineSources("acme", "2024-07", n)).sources;
    expect((await sources(3)).map((r) => [r.trace_id, r.booked_period])).toEqual([
      ["t-4", "2024-07"],
      ["t-5", "2024-07"],
    ]);
    expect((await sources(4)).map((r) => [r.trace_id, r.cause_type, r.booked_period])).toEqual([["t-2", "feedback-added", "2024-07"]]);
    expect((await sources(2)).map((r) => [r.type, r.user_id]).sort()).toEqual([["seat-added", "u1"], ["seat-added", "u2"]]);
    expect((await sources(5)).map((r) => [r.run_id, r.booked_period])).toEqual([["run-2", "2024-07"]]);
    await expect(s.invoicer.reads.lineSources("acme", "2024-07", 6)).rejects.toThrow("has 5 line(s); there is no line 6");

    // The seat charges no monthly invoice holds — u1's June proration, learned by the ledger's
    // clock (today) long after its day's seat invoice was due, and u2's, added in May but learned
    // after June closed: May's proration (30 × 15.5/31 = 15.00), June's and July's seats — are on
    // the seat invoice of the day the ledger learned them, issued once that day has settled.
    const held = await heldSeatCharges(s.clickhouse, "acme");
    const seatDays = [...new Set(held.filter((h) => h.day !== "").map((h) => h.day))];
    expect(seatDays).toHaveLength(1);
    await s.invoicer.issueDueSeats(Date.parse(`${seatDays[0]}T00:00:00Z`) + 2 * 86_400_000);
    expect(await invoiceLines(s, "acme", seatDays[0]!)).toEqual({
      status: "closed",
      total: "105.00",
      lines: [
        { kind: "seat_proration", usage_period: "2024-05", user_id: "u2", at: "2024-05-16T12:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "15.00" },
        { kind: "seat_proration", usage_period: "2024-06", user_id: "u1", at: "2024-06-01T00:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "30.00" },
        { kind: "seats", usage_period: "2024-06", user_id: "u2", at: "2024-06-01T00:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "30.00" },
        { kind: "seats", usage_period: "2024-07", user_id: "u2", at: "2024-07-01T00:00:00.000Z", quantity: 1, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "30.00" },
      ],
    });

    // August (open): September's seats in advance and the adjustments of the effects that came after July closed.
    expect(await invoiceLines(s, "acme", "2024-08")).toEqual({
      status: "open",
      total: "60.001",
      lines: [
        { kind: "seats", usage_period: "2024-09", quantity: 2, free_quantity: 0, unit_price_usd: "30.00", amount_usd: "60.00" },
        { kind: "adjustment", usage_period: "2024-06", adjusts: "base_traces", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
        { kind: "adjustment", usage_period: "2024-07", adjusts: "base_traces", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
      ],
    });
    // June stays as it was frozen; the usage metrics count every trace in its own period.
    expect((await invoiceLines(s, "acme", "2024-06")).total).toBe("30.0065");
    expect(await queryUsage(s.clickhouse, { org: "acme" })).toEqual([
      { org_id: "acme", period: "2024-06", base_traces: 6, extended_upgrades: 1, base_charge_usd: "0.003", upgrade_charge_usd: "0.0045" },
      { org_id: "acme", period: "2024-07", base_traces: 2, extended_upgrades: 0, base_charge_usd: "0.001", upgrade_charge_usd: "0.00" },
    ]);
  });

  test("a marker in the middle of a partition's batch: events before it are in time, after it late, on every consumer", async () => {
    stack = await freshStack({ label: "midbatch" });
    const s = stack;
    await publishLog(s, [contract("mid")], []);
    // One produce request: created-before, the marker, created-after, all in partition 0's
    // order, so the consumers receive them in one batch.
    const partition = 0;
    const before = validateBatchOf(INGEST_EVENTS, [ev.created("mid", "before", "2024-06-10T00:00:00Z"), ev.created("mid", "up", "2024-06-10T00:00:00Z")]);
    const after = validateBatchOf(INGEST_EVENTS, [ev.created("mid", "after", "2024-06-11T00:00:00Z"), ev.feedback("mid", "up", "2024-06-12T00:00:00Z")]);
    const msg = (e: (typeof before)[number]) => ({ key: traceKey(e.org_id, (e as { trace_id: string }).trace_id), value: JSON.stringify(e), headers: { [RECEIVED_AT_HEADER]: String(Date.now()) }, partition });
    const marker = { key: "", value: JSON.stringify({ id: "period-closed:2024-06", type: "period-closed", period: "2024-06" }), headers: { [FAMILY_HEADER]: "marker" } };
    const partitions = (await watermarksOf(s.admin, s.topics.events)).length;
    await publish(s.producer, s.topics.events, [
      ...before.map(msg),
      { ...marker, partition },
      ...after.map(msg),
      ...Array.from({ length: partitions - 1 }, (_, i) => ({ ...marker, partition: i + 1 })),
    ]);
    // As the invoicer closes: the accounts topic's partitions get the marker too (§10.1).
    const accountPartitions = (await watermarksOf(s.admin, s.topics.accounts)).length;
    await publish(s.producer, s.topics.accounts, Array.from({ length: accountPartitions }, (_, p) => ({ ...marker, partition: p })));
    await s.waitUntilDrained({ timeoutMs: 60_000 });
    await s.invoicer.waitUntilFinal("2024-06", 60_000);
    expect((await invoiceLines(s, "mid", "2024-06")).lines).toEqual([
      { kind: "base_traces", usage_period: "2024-06", quantity: 2, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.001" },
    ]);
    expect((await invoiceLines(s, "mid", "2024-07")).lines).toEqual([
      { kind: "adjustment", usage_period: "2024-06", adjusts: "base_traces", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
      { kind: "adjustment", usage_period: "2024-06", adjusts: "extended_upgrades", quantity: 1, free_quantity: 0, unit_price_usd: "0.0045", amount_usd: "0.0045" },
    ]);
    // The consumers passed the marker mid-batch and recorded where.
    const rs = await s.clickhouse.client.query({
      query: `SELECT consumer, topic, kafka_offset FROM ${s.clickhouse.table("period_marks_v1")} FINAL WHERE kafka_partition = 0 ORDER BY consumer, topic`,
      format: "JSONEachRow",
    });
    const marks = (await rs.json()) as { consumer: string; topic: string; kafka_offset: number }[];
    expect(marks.map((m) => [m.consumer, m.topic])).toEqual([
      ["sink", s.topics.accounts],
      ["sink", s.topics.upgrades],
      ["sink", s.topics.events],
      ["upgrader", s.topics.events],
    ].sort());
    expect(marks.find((m) => m.consumer === "sink" && m.topic === s.topics.events)!.kafka_offset).toEqual(2);
  });
});
