import { afterAll, expect, test } from "vitest";
import { invoiceDocument } from "@ledger/billing";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { bill, invoiceEvents as issued, publishLog } from "../support/invoices";
import { ev } from "../support/pipeline";

// IE1: when a month becomes final, one `invoice-issued` per invoice on <prefix>.invoices, keyed
// by organization, the whole document with its deterministic id; announced again (same ids)
// when a crash came between the announcement and the month's final mark.
let stack: LedgerStack | undefined;
afterAll(async () => {
  await stack?.stop();
});

test("a final month announces each invoice once, the whole document with its id; a crash before the final mark announces the same ids again", async () => {
  stack = await freshStack({ label: "invoice_events" });
  const s = stack;
  await publishLog(
    s,
    [bill.plus("acme"), bill.plus("beta")],
    [ev.created("acme", "t-1", "2024-06-03T00:00:00Z"), bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z"), ev.created("beta", "t-2", "2024-06-04T00:00:00Z"), ev.created("gamma", "t-3", "2024-07-04T00:00:00Z")],
  );
  await s.waitUntilDrained({ timeoutMs: 60_000 });
  expect(await issued(s)).toEqual([]);
  await s.invoicer.close("2024-06");
  await s.invoicer.waitUntilFinal("2024-06", 60_000);

  const first = await issued(s);
  const docs = Object.fromEntries(await Promise.all(["acme", "beta"].map(async (org) => [org, invoiceDocument(await s.invoicer.reads.invoice(org, "2024-06"))] as const)));
  expect(first.map((m) => m.key).sort()).toEqual(["acme", "beta"]);
  for (const { key, event } of first) {
    const doc = docs[key]!;
    expect(event).toEqual({
      type: "invoice-issued",
      invoice_id: `monthly/2024-06/${key}`,
      kind: "monthly",
      org_id: key,
      period: "2024-06",
      issued_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      lines: doc.lines,
      total_usd: doc.total_usd,
      credits_usd: "0.00",
      amount_due_usd: doc.amount_due_usd,
      currency: "USD",
    });
  }
  expect(docs.acme!.amount_due_usd).toBe("39.00");

  // A crash after the announcement, before the month was marked final: the next pass freezes and
  // announces again; consumers keep the first event of each invoice_id.
  await s.clickhouse.client.command({ query: `TRUNCATE TABLE ${s.clickhouse.table("frozen_periods_v1")}` });
  await s.invoicer.waitUntilFinal("2024-06", 60_000);
  const again = await issued(s);
  expect(again).toHaveLength(4);
  const ids = again.map((m) => m.event.invoice_id as string);
  expect([...new Set(ids)].sort()).toEqual(["monthly/2024-06/acme", "monthly/2024-06/beta"]);
  // The same documents byte for byte: the freeze reuses the first issue time (IE2).
  for (const { event } of again.slice(2)) expect(event).toEqual(first.find((m) => m.event.invoice_id === event.invoice_id)!.event);
  // July is open: nothing announced for it, nor for gamma.
  expect(again.some((m) => m.event.period === "2024-07" || m.key === "gamma")).toBe(false);
}, 120_000);
