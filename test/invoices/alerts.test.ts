import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { runLedger } from "../support/cli";
import { invoiceEvents } from "../support/invoices";
import { ev } from "../support/pipeline";
import { waitFor } from "../support/wait";

// §6.6 through the pipeline: rules set by the admin API and the CLI, usage crossing a
// workspace's limit's thresholds and the month's cost crossing an amount, each crossing
// published once per threshold and period on the alerts topic and to the signed webhook (a
// receiver this test runs), found by the invoicer's own look (every 30 s; here every second) within a minute.
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
let nowMs = Date.parse("2024-06-20T12:00:00Z");
const received: { id: string; body: string }[] = [];
let receiver: Server;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      received.push({ id: String(req.headers["ledger-invoice-id"]), body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  stack = await freshStack({
    label: "alerts",
    ingest: true,
    clock: { now: () => nowMs },
    invoicer: { closeGraceMs: null, intervalMs: 200, alertsEveryMs: 1_000, webhook: { url, secret: "whsec_alerts_0123456789", timeoutMs: 5_000, backoffMs: 1_000, maxBackoffMs: 5_000, retryForMs: 86_400_000, intervalMs: 200 } },
  });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  await api.workspace("acme", "prod", { all_traces_limit: 100 });
});
afterAll(async () => {
  await stack?.stop();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

const traces = (n: number, day: string, from = 0) => Array.from({ length: n }, (_, i) => ev.created("acme", `t-${day}-${from + i}`, `${day}T10:00:00Z`));

test("bad rules are refused naming the field; a workspace key sets nothing", async () => {
  const put = (body: unknown, key = TEST_PLATFORM_KEY) => api.call("PUT", "/v1/admin/orgs/acme/alerts", key, body);
  expect((await put({ workspace_id: "prod", at: [50] })).body.error).toMatch(/limit is required with the other/);
  expect((await put({ workspace_id: "prod", limit: "all_traces", spend_usd: "10", at: [50] })).body.error).toMatch(/spend_usd is not with workspace_id and limit/);
  expect((await put({ at: [50] })).body.error).toMatch(/spend_usd is required unless workspace_id and limit are given/);
  expect((await put({ spend_usd: "10", at: [0, 2000] })).body.error).toMatch(/at\.0 must be at least 1; at\.1 must be at most 1000/);
  expect((await put({ spend_usd: "ten", at: [50] })).body.error).toMatch(/spend_usd must be a decimal string/);
  const { key } = await api.key("acme", "prod");
  expect((await put({ spend_usd: "10", at: [50] }, key)).status).toBe(403);
  expect((await api.call("GET", "/v1/admin/orgs/acme/alerts", TEST_PLATFORM_KEY)).body).toEqual({ org_id: "acme", rules: [], crossings: [] });
});

test("each threshold crossed is published once per period, on the alerts topic and to the webhook, within a minute", async () => {
  const env = { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY };
  const set = await runLedger(["alerts", "set", "--org", "acme", "--workspace", "prod", "--limit", "all_traces", "--at", "100,50,80", "--url", stack.url!], { env });
  expect(set.stderr).toBe("");
  expect(set.stdout).toBe("acme: workspace:prod:all_traces: workspace prod's all_traces against its limit, at 50, 80, 100 %\n");
  expect((await api.call("PUT", "/v1/admin/orgs/acme/alerts", TEST_PLATFORM_KEY, { spend_usd: "0.05", at: [100] })).body).toEqual({ alert_id: "spend", metric: "spend", spend_usd: "0.05", thresholds: [100] });

  // 85 of prod's 100 traces this month: 50 % and 80 % crossed, not 100 %.
  expect((await api.post(TEST_PLATFORM_KEY, traces(85, "2024-06-19"))).status).toBe(202);
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  const crossings = async () => (await api.call("GET", "/v1/admin/orgs/acme/alerts", TEST_PLATFORM_KEY)).body.crossings as Record<string, unknown>[];
  await waitFor("two crossings", async () => (await crossings()).length === 2, 60_000, 250);
  const id = (t: number, period = "2024-06") => `alert/acme/workspace:prod:all_traces/${period}/${t}`;
  const first = await crossings();
  // A look may come while the traces are still becoming visible: the value it saw reached the
  // threshold and is at most the 85 sent.
  expect(first).toEqual([50, 80].map((t, i) => ({
    type: "usage-threshold-crossed",
    id: id(t),
    org_id: "acme",
    workspace_id: "prod",
    metric: "all_traces",
    period: "2024-06",
    threshold_percent: t,
    value: first[i]!.value,
    target: "100",
    unit: "traces",
    crossed_at: "2024-06-20T12:00:00.000Z",
  })));
  for (const [i, t] of [50, 80].entries()) expect(Number(first[i]!.value)).toSatisfy((v: number) => v >= t && v <= 85);
  // Looking again — as the next pass, a restarted or a second invoicer does: nothing new.
  expect(await stack.invoicer.checkAlerts(nowMs)).toEqual([]);
  const onTopic = await invoiceEvents(stack, stack.topics.alerts);
  expect(onTopic.map((m) => [m.key, m.event.id])).toEqual([["acme", id(50)], ["acme", id(80)]]);
  await waitFor("the webhook's two deliveries", () => received.length >= 2, 30_000, 100);
  expect(received.map((r) => r.id).sort()).toEqual([id(50), id(80)]);
  for (const r of received) expect(JSON.parse(r.body)).toEqual(onTopic.find((m) => m.event.id === r.id)!.event);
  // Its delivery is listed and can be sent again like an invoice's.
  const resent = await api.call("POST", "/v1/admin/webhooks/resend", TEST_PLATFORM_KEY, { invoice_id: id(50) });
  expect(resent.body).toMatchObject({ invoice_id: id(50), round: 2 });
  await waitFor("the resent delivery", () => received.filter((r) => r.id === id(50)).length >= 2, 30_000, 100);

  // 15 more traces reach prod's limit (100 %); 20 upgrades at $0.0045 make the month's cost $0.09
  // (the 100 traces fit the allotment), past $0.05.
  expect((await api.post(TEST_PLATFORM_KEY, [...traces(15, "2024-06-19", 85), ...traces(20, "2024-06-19").map((t) => ev.rule("acme", t.trace_id, "2024-06-20T11:00:00Z"))])).status).toBe(202);
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  await waitFor("four crossings", async () => (await crossings()).length === 4, 60_000, 250);
  const later = (await crossings()).filter((c) => c.id !== id(50) && c.id !== id(80));
  expect(later.map((c) => [c.id, c.target, c.unit])).toEqual([
    ["alert/acme/spend/2024-06/100", "0.05", "usd"],
    [id(100), "100", "traces"],
  ]);
  expect(later[1]!.value).toBe("100");
  // The look that found the spend crossing may have come while the upgrades were still arriving:
  // the value it saw is past the amount and at most the month's $0.09.
  expect(Number(later[0]!.value)).toBeGreaterThanOrEqual(0.05);
  expect(Number(later[0]!.value)).toBeLessThanOrEqual(0.09);

  // A new month starts from nothing: July's own crossing has its own id.
  nowMs = Date.parse("2024-07-03T09:00:00Z");
  expect((await api.post(TEST_PLATFORM_KEY, traces(55, "2024-07-02"))).status).toBe(202);
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  await waitFor("July's crossing", async () => (await crossings()).some((c) => c.id === id(50, "2024-07")), 60_000, 250);
  expect((await crossings()).filter((c) => c.period === "2024-07").map((c) => c.id)).toEqual([id(50, "2024-07")]);

  const list = await runLedger(["alerts", "list", "--org", "acme", "--url", stack.url!], { env });
  expect(list.stdout.split("\n")).toEqual([
    "spend: the month's cost against $0.05, at 100 %",
    "workspace:prod:all_traces: workspace prod's all_traces against its limit, at 50, 80, 100 %",
    `crossed 100 % of the month's cost in 2024-06 at 2024-06-20T12:00:00.000Z: ${later[0]!.value} of 0.05 usd (alert/acme/spend/2024-06/100)`,
    `crossed 50 % of prod's all_traces in 2024-06 at 2024-06-20T12:00:00.000Z: ${first[0]!.value} of 100 traces (${id(50)})`,
    `crossed 80 % of prod's all_traces in 2024-06 at 2024-06-20T12:00:00.000Z: ${first[1]!.value} of 100 traces (${id(80)})`,
    `crossed 100 % of prod's all_traces in 2024-06 at 2024-06-20T12:00:00.000Z: 100 of 100 traces (${id(100)})`,
    expect.stringMatching(new RegExp(`^crossed 50 % of prod's all_traces in 2024-07 at 2024-07-03T09:00:00\\.000Z: (5\\d) of 100 traces \\(${id(50, "2024-07")}\\)$`)),
    "",
  ]);
}, 240_000);
