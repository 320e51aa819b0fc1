import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { runLedger } from "../support/cli";
import { bill } from "../support/invoices";

// §10.7's worked example through the whole pipeline (`ledger replay --invoices --json`), then
// grants, voids and balances through the admin API, GET /v1/credits and `ledger credits`.
const grant = (id: string, at: string, amount: string, more: Record<string, unknown> = {}) => ({
  id: `grant-${id}`,
  type: "credit-granted",
  occurred_at: at,
  org_id: "acme",
  grant_id: id,
  amount_usd: amount,
  reason: "support",
  ...more,
});
const voided = (id: string, at: string) => ({ id: `void-${id}`, type: "credit-voided", occurred_at: at, org_id: "acme", grant_id: id });

describe("§10.7 worked example, replayed", () => {
  test("credits after every charge, in CR3's order, only where known at the close (CR1); a preview consumes nothing", async () => {
    const log = [
      bill.plus("acme"),
      grant("welcome", "2024-05-20T00:00:00Z", "50.00"),
      grant("june-only", "2024-06-01T00:00:00Z", "5", { last_period: "2024-06" }),
      bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z"),
      { id: "close-june", type: "period-closed", period: "2024-06" },
      // Granted for June, but after June's marker: not on June's final invoice.
      grant("late", "2024-07-01T00:00:00Z", "10", { first_period: "2024-06" }),
      { id: "close-july", type: "period-closed", period: "2024-07" },
      grant("aug", "2024-08-01T00:00:00Z", "100"),
      grant("oops", "2024-08-02T00:00:00Z", "20"),
      voided("oops", "2024-08-02T00:00:01Z"),
    ];
    const r = await runLedger(["replay", "-", "--invoices", "--json", "--quiet"], { input: log.map((l) => JSON.stringify(l)).join("\n") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const of = (period: string) => lines.filter((l) => l.org_id === "acme" && l.period === period).map(({ org_id: _o, period: _p, ...rest }) => rest);

    // June's invoice: July's seat in advance, drawn from june-only, then welcome (CR3).
    expect(of("2024-06")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seats", usage_period: "2024-07", quantity: 1, amount_usd: "39.00" }),
      { status: "closed", kind: "credit", grant_id: "june-only", amount_usd: "-5.00" },
      { status: "closed", kind: "credit", grant_id: "welcome", amount_usd: "-34.00" },
      { status: "closed", kind: "total", amount_usd: "39.00", credits_usd: "39.00", amount_due_usd: "0.00" },
    ]);
    // u1's June proration (a whole month: added at June's first instant) on 1 June's seat
    // invoice, issued when the log reached 2 June 01:00, after June's invoice took its credits:
    // welcome's last $16; "late" was not granted yet.
    expect(of("2024-06-01")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seat_proration", usage_period: "2024-06", user_id: "u1", amount_usd: "39.00" }),
      { status: "closed", kind: "credit", grant_id: "welcome", amount_usd: "-16.00" },
      { status: "closed", kind: "total", amount_usd: "39.00", credits_usd: "16.00", amount_due_usd: "23.00" },
    ]);
    expect(of("2024-07")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seats", usage_period: "2024-08", quantity: 1, amount_usd: "39.00" }),
      { status: "closed", kind: "credit", grant_id: "late", amount_usd: "-10.00" },
      { status: "closed", kind: "total", amount_usd: "39.00", credits_usd: "10.00", amount_due_usd: "29.00" },
    ]);
    expect(of("2024-08")).toEqual([
      expect.objectContaining({ status: "open", kind: "seats", usage_period: "2024-09", quantity: 1, amount_usd: "39.00" }),
      { status: "open", kind: "credit", grant_id: "aug", amount_usd: "-39.00" },
      { status: "open", kind: "total", amount_usd: "39.00", credits_usd: "39.00", amount_due_usd: "0.00" },
    ]);
  }, 180_000);
});

describe("grants, voids and balances through the API and the CLI", () => {
  let stack: LedgerStack;
  let api: ReturnType<typeof ledgerApi>;
  const clock = { now: () => Date.parse("2024-11-10T12:00:00Z") };
  beforeAll(async () => {
    stack = await freshStack({ label: "credits", ingest: true, clock });
    api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
    await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test("granted once, voided once, refusals named; June's final invoice consumes; balances conserve (CR5)", async () => {
    const granted = await api.call("POST", "/v1/admin/orgs/acme/credits", TEST_PLATFORM_KEY, { grant_id: "welcome", amount_usd: "50.00", reason: "welcome", first_period: "2024-06", occurred_at: "2024-05-01T00:00:00Z" });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ type: "credit-granted", org_id: "acme", grant_id: "welcome", amount_usd: "50.00", first_period: "2024-06" });
    expect((await api.call("POST", "/v1/admin/orgs/acme/credits", TEST_PLATFORM_KEY, { grant_id: "welcome", amount_usd: "5", reason: "again" })).status).toBe(409);
    const zero = await api.call("POST", "/v1/admin/orgs/acme/credits", TEST_PLATFORM_KEY, { grant_id: "zero", amount_usd: "0.00", reason: "x" });
    expect(zero.status).toBe(400);
    expect(zero.body.error).toMatch(/amount_usd must be more than 0/);
    const backwards = await api.call("POST", "/v1/admin/orgs/acme/credits", TEST_PLATFORM_KEY, { grant_id: "b", amount_usd: "1", reason: "x", first_period: "2024-07", last_period: "2024-06" });
    expect(backwards.status).toBe(400);
    expect(backwards.body.error).toMatch(/last_period must not come before first_period \(2024-07\)/);
    const { key } = await api.key("acme", "prod");
    // A workspace's key grants nothing.
    expect((await api.call("POST", "/v1/admin/orgs/acme/credits", key, { grant_id: "mine", amount_usd: "9", reason: "x" })).status).toBe(403);

    const cli = await runLedger(["credits", "grant", "--org", "acme", "--amount", "20", "--reason", "outage", "--grant-id", "outage-1", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(cli.stderr).toBe("");
    expect(cli.stdout).toBe("acme: granted outage-1 $20\n");
    expect((await api.call("POST", "/v1/admin/orgs/acme/credits/nothing/void", TEST_PLATFORM_KEY, {})).status).toBe(404);
    const voidCli = await runLedger(["credits", "void", "--org", "acme", "outage-1", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(voidCli.stdout).toBe("acme: voided outage-1\n");
    expect((await api.call("POST", "/v1/admin/orgs/acme/credits/outage-1/void", TEST_PLATFORM_KEY, {})).status).toBe(409);

    // A June seat: $39.00, drawn from welcome when June is final.
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [bill.seatAdded("acme", "u1", "2024-06-01T00:00:00Z")])).status).toBe(202);
    await stack.waitUntilDrained({ timeoutMs: 60_000 });
    expect((await api.call("POST", "/v1/admin/periods/2024-06/close", TEST_PLATFORM_KEY, { wait: true })).body).toMatchObject({ final: true });
    const june = await api.call("GET", "/v1/invoices/acme/2024-06", key);
    expect(june.body).toMatchObject({ status: "closed", total_usd: "39.00", credits_usd: "39.00", amount_due_usd: "0.00" });

    const balances = await api.call("GET", "/v1/credits/acme", key);
    expect(balances.status).toBe(200);
    expect(balances.body).toMatchObject({ org_id: "acme", granted_usd: "70.00", consumed_usd: "39.00", remaining_usd: "11.00", voided_usd: "20.00" });
    expect(balances.body.grants.map((g: Record<string, unknown>) => [g.grant_id, g.consumed_usd, g.remaining_usd, g.voided_usd])).toEqual([
      ["welcome", "39.00", "11.00", "0.00"],
      ["outage-1", "0.00", "0.00", "20.00"],
    ]);
    // Another organization's key sees nothing of acme's.
    await api.org("beta", { plan: "plus", payment_method: true });
    const { key: other } = await api.key("beta", "prod");
    expect((await api.call("GET", "/v1/credits/acme", other)).status).toBe(403);

    const list = await runLedger(["credits", "list", "--org", "acme", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(list.stdout).toMatch(/welcome\s+\$50\.00\s+2024-06…\s+welcome\s+\$39\.00\s+\$11\.00/);
    expect(list.stdout).toMatch(/total: granted \$70\.00, consumed \$39\.00, remaining \$11\.00, voided \$20\.00/);
  }, 180_000);
});
