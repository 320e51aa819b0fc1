import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi, publishedCount } from "../support/ledger-api";
import { runLedger } from "../support/cli";
import { ev } from "../support/pipeline";
import { bill } from "../support/invoices";

// Billing events and invoices through the HTTP API and the CLI, with the ledger's clock in
// November 2024 (so June can be closed and the current period cannot).
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
const clock = { now: () => Date.parse("2024-11-10T12:00:00Z") };
beforeAll(async () => {
  stack = await freshStack({ label: "invoiceapi", ingest: true, clock });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  // A June invoice uses the plan in effect at the end of June (§10.1): configured through the
  // admin API a plan takes effect now (the ledger's clock: November) unless dated otherwise.
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  await api.org("other", { plan: "plus", payment_method: true });
});
afterAll(async () => {
  await stack?.stop();
});

describe("billing events on POST /v1/events", () => {
  test("accepted from the platform key; a workspace key may send deployment runs of its workspace but not seats", async () => {
    const { key } = await api.key("acme", "prod");
    expect((await api.post(null, [bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z")])).status).toBe(401);
    const refused = await api.post(key, [bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z")]);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/event 0: seat-added events are written with the platform key/);
    expect((await api.post(key, [bill.run("acme", "run-k", "2024-06-02T00:00:00Z")])).status).toBe(202);
    expect((await api.post(TEST_PLATFORM_KEY, [bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z"), ev.created("acme", "t-1", "2024-06-03T00:00:00Z")])).status).toBe(202);
  });

  test("a bad billing event is refused naming event and field, and nothing of the batch is published", async () => {
    const before = await publishedCount(stack);
    const r = await api.post(TEST_PLATFORM_KEY, [bill.seatAdded("acme", "u9", "2024-06-01T00:00:00Z"), { ...bill.run("acme", "r", "2024-06-01T00:00:00Z"), deployment_id: "" }, { ...bill.seatRemoved("acme", "u9", "2024-06-01T00:00:00Z"), workspace_id: "prod" }]);
    expect(r.status).toBe(400);
    expect(r.body.problems).toEqual([
      { index: 1, event_id: expect.any(String), field: "deployment_id", reason: "must not be empty" },
      { index: 2, event_id: expect.any(String), field: "workspace_id", reason: "is not a field of this event type (unknown fields are rejected)" },
    ]);
    expect(await publishedCount(stack)).toBe(before);
  });
});

describe("close and invoices over HTTP", () => {
  test("a period that has not ended cannot be closed; June closes once; the invoice is then final", async () => {
    const current = await api.call("POST", "/v1/admin/periods/2024-11/close", TEST_PLATFORM_KEY, {});
    expect(current.status).toBe(400);
    expect(current.body.error).toMatch(/period 2024-11 has not ended yet/);
    const { key } = await api.key("acme", "ops");
    expect((await api.call("POST", "/v1/admin/periods/2024-06/close", key, {})).status).toBe(403);
    expect((await api.call("POST", "/v1/admin/periods/2024-6/close", TEST_PLATFORM_KEY, {})).body.error).toMatch(/is not a billing period YYYY-MM/);

    await stack.waitUntilDrained({ timeoutMs: 60_000 });
    const closed = await api.call("POST", "/v1/admin/periods/2024-06/close", TEST_PLATFORM_KEY, { wait: true });
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ period: "2024-06", final: true });
    const again = await api.call("POST", "/v1/admin/periods/2024-06/close", TEST_PLATFORM_KEY, {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/already closed/);

    const invoice = await api.call("GET", "/v1/invoices/acme/2024-06", key);
    expect(invoice.status).toBe(200);
    expect(invoice.body).toEqual({
      // How it reads to the one who pays it: number, issue time, the dates it covers, plan and prices.
      heading: { invoice_id: "monthly/2024-06/acme", issued_at: "2024-11-10T12:00:00.000Z", period_start: "2024-06-01T00:00:00.000Z", period_end: "2024-07-01T00:00:00.000Z", plan: "plus", price_version: 1 },
      org_id: "acme",
      period: "2024-06",
      status: "closed",
      total_usd: "39.005",
      credits_usd: "0.00",
      amount_due_usd: "39.01",
      lines: [
        { org_id: "acme", period: "2024-06", status: "closed", kind: "base_traces", usage_period: "2024-06", quantity: 1, free_quantity: 1, unit_price_usd: "0.0005", amount_usd: "0.00" },
        { org_id: "acme", period: "2024-06", status: "closed", kind: "deployment_runs", usage_period: "2024-06", quantity: 1, free_quantity: 0, unit_price_usd: "0.005", amount_usd: "0.005" },
        // SA1: after June's usage, July's seat in advance (u1, added 1 June, present at July's first instant).
        { org_id: "acme", period: "2024-06", status: "closed", kind: "seats", usage_period: "2024-07", quantity: 1, free_quantity: 0, unit_price_usd: "39.00", amount_usd: "39.00" },
      ],
    });
    // July is open: a preview.
    expect((await api.call("GET", "/v1/invoices/acme/2024-07", key)).body).toMatchObject({ status: "open", total_usd: "39.00", amount_due_usd: "39.00" });
  });

  test("nobody reads another organization's invoice; bad path parameters are named", async () => {
    const { key } = await api.key("other", "prod");
    const r = await api.call("GET", "/v1/invoices/acme/2024-06", key);
    expect(r.status).toBe(403);
    expect(r.body.error).toMatch(/belongs to organization "other", not "acme"/);
    expect((await api.call("GET", "/v1/invoices/acme/2024-06", null)).status).toBe(401);
    const bad = await api.call("GET", "/v1/invoices/acme/June", TEST_PLATFORM_KEY);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe(`period "June" in the path must be a billing period YYYY-MM or a seat invoice's day YYYY-MM-DD`);
    // A day names a seat invoice; none was issued on this one.
    const none = await api.call("GET", "/v1/invoices/acme/2024-06-02", TEST_PLATFORM_KEY);
    expect(none.status).toBe(404);
    expect(none.body.error).toMatch(/acme has no seat invoice for 2024-06-02/);
    const sql = await api.call("GET", `/v1/invoices/${encodeURIComponent("acme' OR 1=1 --")}/2024-06`, TEST_PLATFORM_KEY);
    expect(sql.status).toBe(400);
    expect(sql.body.error).toMatch(/may contain only/);
  });

  test("the rows behind a line, over HTTP", async () => {
    const { key } = await api.key("acme", "sources");
    const r = await api.call("GET", "/v1/invoices/acme/2024-06/lines/3/sources", key);
    expect(r.status).toBe(200);
    expect(r.body.line).toMatchObject({ kind: "seats", usage_period: "2024-07", amount_usd: "39.00" });
    expect(r.body.sources.map((x: Record<string, unknown>) => [x.source, x.type, x.user_id, x.booked_period])).toEqual([["billing_events_v1", "seat-added", "u1", "2024-06"]]);
    const missing = await api.call("GET", "/v1/invoices/acme/2024-06/lines/9/sources", key);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe("the invoice of acme for 2024-06 has 3 line(s); there is no line 9");
    expect((await api.call("GET", "/v1/invoices/acme/2024-06/lines/first/sources", key)).body.error).toBe('line "first" in the path must be a line number (1 for the first line)');
  });

  test("ledger invoice prints it, as text and as JSON lines", async () => {
    const env = { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY };
    const text = await runLedger(["invoice", "--org", "acme", "--period", "2024-06", "--url", stack.url!], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("Invoice of acme for 2024-06 (closed: final)");
    expect(text.stdout).toContain("invoice monthly/2024-06/acme; issued 2024-11-10T12:00:00.000Z; covers 2024-06-01T00:00:00.000Z to 2024-07-01T00:00:00.000Z (UTC, end exclusive); plan plus, price version 1");
    expect(text.stdout).toMatch(/seats 2024-07\s+1\s+x \$39.00\s+\$39.00/);
    expect(text.stdout).toContain("total $39.005");
    expect(text.stdout).toContain("amount due $39.01");
    const json = await runLedger(["invoice", "--org", "acme", "--period", "2024-06", "--json", "--url", stack.url!], { env });
    const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(["base_traces", "deployment_runs", "seats", "total"]);
    expect(lines.at(-1)).toEqual({ org_id: "acme", period: "2024-06", status: "closed", kind: "total", amount_usd: "39.005", credits_usd: "0.00", amount_due_usd: "39.01" });
    const withSources = await runLedger(["invoice", "--org", "acme", "--period", "2024-06", "--json", "--sources", "--url", stack.url!], { env });
    const sourced = withSources.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(sourced[0].sources.map((x: Record<string, unknown>) => x.trace_id)).toEqual(["t-1"]);
    expect(sourced[1].sources.map((x: Record<string, unknown>) => x.run_id)).toEqual(["run-k"]);
    const bad = await runLedger(["invoice", "--org", "acme", "--period", "2024-13", "--url", stack.url!], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/must be a billing period YYYY-MM/);
  });
});

describe("the price catalogue (§10.1)", () => {
  test("versions as data: one for a closed period is refused, a later one prices its periods and no earlier one", async () => {
    const plus = { base_trace_usd: "0.001", upgrade_usd: "0.005", deployment_run_usd: "0.006", seat_usd: "45.00", free_base_traces: 10_000 };
    const developer = { base_trace_usd: "0.001", upgrade_usd: "0.005", deployment_run_usd: "0.006", seat_usd: "0", free_base_traces: 5_000 };
    const list = await api.call("GET", "/v1/admin/catalogue", TEST_PLATFORM_KEY);
    expect(list.body).toEqual([
      {
        version: 1,
        first_period: "1970-01",
        plans: {
          developer: { base_trace_usd: "0.0005", upgrade_usd: "0.0045", deployment_run_usd: "0.005", seat_usd: "0.00", free_base_traces: 5_000 },
          plus: { base_trace_usd: "0.0005", upgrade_usd: "0.0045", deployment_run_usd: "0.005", seat_usd: "39.00", free_base_traces: 10_000 },
        },
      },
    ]);
    const closed = await api.call("POST", "/v1/admin/catalogue", TEST_PLATFORM_KEY, { first_period: "2024-06", plans: { developer, plus } });
    expect(closed.status).toBe(409);
    expect(closed.body.error).toMatch(/period 2024-06 is closed/);
    const bad = await api.call("POST", "/v1/admin/catalogue", TEST_PLATFORM_KEY, { first_period: "2024-08", plans: { developer, plus: { ...plus, seat_usd: 45 } } });
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual([{ field: "plans.plus.seat_usd", reason: 'must be a decimal string such as "39.00"' }]);
    const { key } = await api.key("acme", "prod");
    expect((await api.call("POST", "/v1/admin/catalogue", key, { first_period: "2024-08", plans: { developer, plus } })).status).toBe(403);

    const added = await api.call("POST", "/v1/admin/catalogue", TEST_PLATFORM_KEY, { first_period: "2024-08", plans: { developer, plus } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ version: 2, first_period: "2024-08" });
    expect((await api.call("POST", "/v1/admin/catalogue", TEST_PLATFORM_KEY, { first_period: "2024-08", plans: { developer, plus } })).status).toBe(400);

    expect((await api.post(key, [ev.created("acme", "t-aug", "2024-08-02T00:00:00Z", "base", { ws: "prod" })])).status).toBe(202);
    await stack.waitUntilDrained({ timeoutMs: 60_000 });
    const unit = async (period: string, kind: string) => ((await api.call("GET", `/v1/invoices/acme/${period}`, key)).body.lines as { kind: string; unit_price_usd: string }[]).find((l) => l.kind === kind)?.unit_price_usd;
    expect(await unit("2024-08", "base_traces")).toBe("0.001");
    // Each invoice holds the next month's seats at that month's price (SA1): August's at $45.
    expect(await unit("2024-08", "seats")).toBe("45.00");
    expect(await unit("2024-07", "seats")).toBe("45.00");
    expect(await unit("2024-06", "seats")).toBe("39.00");

    const cli = await runLedger(["prices", "list", "--json", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(cli.stdout.trim().split("\n").map((l) => JSON.parse(l).version)).toEqual([1, 2]);
  });
});

describe("ledger export", () => {
  test("a closed period's invoice lines and usage as ClickHouse writes CSV and Parquet; an open one is refused", async () => {
    const env = { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY };
    const dir = mkdtempSync(join(tmpdir(), "ledger-export-"));
    const open = await runLedger(["export", "--period", "2024-07", "--out", join(dir, "july.csv"), "--url", stack.url!], { env });
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/period 2024-07 is not final yet \(final through 2024-06\): its numbers can still change; close it first \(ledger close --period 2024-07\)/);
    expect(existsSync(join(dir, "july.csv"))).toBe(false);

    const csv = await runLedger(["export", "--period", "2024-06", "--format", "csv", "--out", join(dir, "june.csv"), "--url", stack.url!], { env });
    expect(csv.stderr).toBe("");
    expect(csv.stdout).toMatch(/2024-06: invoice lines to .*june\.csv \(\d+ bytes\), usage to .*june\.usage\.csv/);
    const rows = (file: string) => readFileSync(join(dir, file), "utf8").trim().split("\n").map((l) => l.split(",").map((c) => c.replace(/^"|"$/g, "")));
    const [header, ...lines] = rows("june.csv");
    expect(header).toEqual(["org_id", "period", "line_no", "status", "kind", "usage_period", "adjusts", "user_id", "at", "quantity", "free_quantity", "unit_price_usd", "amount_usd", "invoice_total_usd", "credits_usd", "amount_due_usd"]);
    // Each line with its invoice's exact total, its credits and the amount due, rounded half up to the cent.
    expect(lines.map((l) => [l[0], l[2], l[4], Number(l[12]), l[13], l[14], l[15]])).toEqual([
      ["acme", "1", "base_traces", 0, "39.005", "0", "39.01"],
      ["acme", "2", "deployment_runs", 0.005, "39.005", "0", "39.01"],
      ["acme", "3", "seats", 39, "39.005", "0", "39.01"],
    ]);
    const [usageHeader, ...usage] = rows("june.usage.csv");
    expect(usageHeader).toEqual(["org_id", "workspace_id", "period", "base_traces", "extended_upgrades", "base_charge_usd", "upgrade_charge_usd"]);
    expect(usage.map((u) => u.slice(0, 5))).toEqual([["acme", "prod", "2024-06", "1", "0"]]);

    const parquet = await runLedger(["export", "--period", "2024-06", "--format", "parquet", "--out", join(dir, "june.parquet"), "--url", stack.url!], { env });
    expect(parquet.code).toBe(0);
    const bytes = readFileSync(join(dir, "june.parquet"));
    expect([bytes.subarray(0, 4).toString(), bytes.subarray(-4).toString()]).toEqual(["PAR1", "PAR1"]);
    // Read back by ClickHouse: the same lines, the money exact.
    const rs = await stack.clickhouse.client.query({ query: `SELECT count() AS n, toString(sum(amount_usd)) AS total FROM file('${join(dir, "june.parquet")}', Parquet)`, format: "JSONEachRow" });
    expect(await rs.json()).toEqual([{ n: 3, total: "39.005" }]);
    expect(existsSync(join(dir, "june.usage.parquet"))).toBe(true);
  });
});

describe("ledger replay --invoices", () => {
  test("a log with a period-closed line: June final, the late trace adjusting it on July's invoice", async () => {
    const log = [
      bill.plus("r", "2024-01-01T00:00:00Z", { plan: "enterprise", free_base_traces: 0 }),
      ev.created("r", "t-1", "2024-06-03T00:00:00Z"),
      bill.run("r", "run-1", "2024-06-04T00:00:00Z"),
      { id: "close-june", type: "period-closed", period: "2024-06" },
      ev.created("r", "t-2", "2024-06-30T00:00:00Z"),
      ev.created("r", "t-3", "2024-07-02T00:00:00Z"),
    ];
    const r = await runLedger(["replay", "-", "--invoices", "--json", "--quiet"], { input: log.map((l) => JSON.stringify(l)).join("\n") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { org_id: "r", period: "2024-06", status: "closed", kind: "base_traces", usage_period: "2024-06", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
      { org_id: "r", period: "2024-06", status: "closed", kind: "deployment_runs", usage_period: "2024-06", quantity: 1, free_quantity: 0, unit_price_usd: "0.005", amount_usd: "0.005" },
      { org_id: "r", period: "2024-06", status: "closed", kind: "total", amount_usd: "0.0055", credits_usd: "0.00", amount_due_usd: "0.01" },
      { org_id: "r", period: "2024-07", status: "open", kind: "base_traces", usage_period: "2024-07", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
      { org_id: "r", period: "2024-07", status: "open", kind: "adjustment", usage_period: "2024-06", adjusts: "base_traces", quantity: 1, free_quantity: 0, unit_price_usd: "0.0005", amount_usd: "0.0005" },
      { org_id: "r", period: "2024-07", status: "open", kind: "total", amount_usd: "0.001", credits_usd: "0.00", amount_due_usd: "0.00" },
    ]);
  });

  test("§10.1: a configuration that arrives after June closed rates July, never June, not even June's late adjustment", async () => {
    const log = [
      ev.created("s", "t-1", "2024-06-10T00:00:00Z"),
      { id: "close-june", type: "period-closed", period: "2024-06" },
      // Dated inside June, but it comes after June's marker: not known when June closed.
      { id: "cfg-s", type: "org-configured", occurred_at: "2024-06-01T00:00:00Z", org_id: "s", plan: "startup", payment_method: true, seat_price_usd: "20" },
      bill.seatAdded("s", "u-1", "2024-06-30T12:00:00Z"),
      ev.created("s", "t-2", "2024-07-02T00:00:00Z"),
      ev.created("s", "t-3", "2024-07-03T00:00:00Z"),
    ];
    const r = await runLedger(["replay", "-", "--invoices", "--json", "--quiet"], { input: log.map((l) => JSON.stringify(l)).join("\n") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const of = (period: string) => lines.filter((l) => l.period === period);
    // June: the Developer default, its trace within the free allotment.
    expect(of("2024-06").map((l) => [l.kind, l.amount_usd])).toEqual([["base_traces", "0.00"], ["total", "0.00"]]);
    // SA2 by the log's time: u's June proration, learned on 30 June (the log's time), on that
    // day's seat invoice at June's price as known at its close: $0. u's July seat, learned after
    // June's invoice was issued, on the seat invoice of the day the log reached (1 July): $20.
    expect(of("2024-06-30").map((l) => [l.kind, l.usage_period, l.user_id, l.amount_usd])).toEqual([["seat_proration", "2024-06", "u-1", "0.00"], ["total", undefined, undefined, "0.00"]]);
    expect(of("2024-07-01").map((l) => [l.kind, l.usage_period, l.user_id, l.amount_usd])).toEqual([["seats", "2024-07", "u-1", "20.00"], ["total", undefined, undefined, "20.00"]]);
    // July's preview holds August's seat in advance, at Startup's $20.
    expect(of("2024-07").find((l) => l.kind === "seats")).toMatchObject({ usage_period: "2024-08", quantity: 1, unit_price_usd: "20.00", amount_usd: "20.00" });
  });
});
