import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { runLedger } from "../support/cli";

// `GET /v1/admin/webhooks` and `ledger webhooks list` over more deliveries than a page: pages
// newest first, ties in queue time broken by invoice id, each page's `next` taking up exactly
// where it ended, so following them lists every delivery once.
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
beforeAll(async () => {
  stack = await freshStack({ label: "whpaging", ingest: true });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
});
afterAll(async () => {
  await stack?.stop();
});

type Delivery = { invoice_id: string; round: number; queued_at: string };
type Page = { deliveries: Delivery[]; next: string | null };

test("pages follow one another to every delivery, once, newest first; the CLI lists them all or the newest N", async () => {
  // 23 invoices queued four to a millisecond (a freeze queues many at once), one resent later.
  const base = Date.parse("2024-07-01T00:00:00Z");
  const rows = Array.from({ length: 23 }, (_, i) => ({
    invoice_id: `monthly/2024-06/org-${String(i).padStart(2, "0")}`,
    org_id: `org-${String(i).padStart(2, "0")}`,
    round: 1,
    body: "{}",
    queued_at: new Date(base + Math.floor(i / 4)).toISOString().replace("T", " ").replace("Z", ""),
  }));
  rows.push({ ...rows[5]!, round: 2, queued_at: new Date(base + 60_000).toISOString().replace("T", " ").replace("Z", "") });
  await stack.clickhouse.client.insert({ table: stack.clickhouse.table("webhook_deliveries_v1"), values: rows, format: "JSONEachRow" });

  const get = async (query: string) => {
    const r = await api.call("GET", `/v1/admin/webhooks?${query}`, TEST_PLATFORM_KEY);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as Page;
  };
  const all = await get("limit=1000");
  expect(all.next).toBeNull();
  expect(all.deliveries).toHaveLength(23);
  // Newest first: the resent invoice (its latest round), then by queue time and invoice id, both descending.
  expect(all.deliveries[0]).toMatchObject({ invoice_id: "monthly/2024-06/org-05", round: 2 });
  const rest = all.deliveries.slice(1);
  const sorted = [...rest].sort((a, b) => (a.queued_at !== b.queued_at ? (a.queued_at < b.queued_at ? 1 : -1) : a.invoice_id < b.invoice_id ? 1 : -1));
  expect(rest.map((d) => d.invoice_id)).toEqual(sorted.map((d) => d.invoice_id));

  const paged: Delivery[] = [];
  let before: string | null = null;
  let pages = 0;
  do {
    const page: Page = await get(`limit=5${before ? `&before=${encodeURIComponent(before)}` : ""}`);
    expect(page.deliveries.length).toBeLessThanOrEqual(5);
    paged.push(...page.deliveries);
    before = page.next;
    pages += 1;
  } while (before !== null);
  expect(pages).toBe(5);
  expect(paged).toEqual(all.deliveries);

  // One invoice's, as before.
  expect((await get(`invoice_id=${encodeURIComponent("monthly/2024-06/org-05")}`)).deliveries).toEqual([all.deliveries[0]]);

  const cli = (args: string[]) => runLedger(["webhooks", "list", ...args, "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
  const listed = await cli(["--json"]);
  expect(listed.stderr).toBe("");
  expect(listed.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual(all.deliveries);
  const newest = await cli(["--json", "--limit", "7"]);
  expect(newest.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual(all.deliveries.slice(0, 7));
  const zero = await cli(["--limit", "0"]);
  expect(zero.code).not.toBe(0);
  expect(zero.stderr).toContain("--limit");

  // Refusals name the parameter.
  for (const [query, named] of [["limit=0", "limit"], ["limit=1001", "limit"], ["limit=five", "limit"], ["before=not-a-cursor", "before"], ["before=1.bm9wZQ%3D%3D", "before"]] as const) {
    const r = await api.call("GET", `/v1/admin/webhooks?${query}`, TEST_PLATFORM_KEY);
    expect(r.status, query).toBe(400);
    expect(JSON.stringify(r.body), query).toContain(named);
  }
});
