import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { runLedger } from "../support/cli";
import { bill } from "../support/invoices";
import { ev } from "../support/pipeline";

// The plans' gates and legacy organizations (spec §7.1–7.2: G1, G2, LG1, LG2) through the API as
// users call it, and LG1's invoices through `ledger replay --invoices --json`.
describe("G1, G2, LG1's cap and LG2 through the API", () => {
  let stack: LedgerStack;
  let api: ReturnType<typeof ledgerApi>;
  const clock = { now: () => Date.parse("2024-07-10T12:00:00Z") };
  const published = async () => (await stack.admin.fetchTopicOffsets(stack.topics.events)).reduce((n, p) => n + Number(p.high), 0);
  beforeAll(async () => {
    stack = await freshStack({ label: "planrules", ingest: true, clock });
    api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test("G1: a shared organization on a paid plan without a card is refused for ingest (402), nothing published; reads and the admin API work; a card lets it in", async () => {
    await api.org("acme", { plan: "plus", payment_method: false });
    const key = (await api.key("acme", "prod")).key;
    const before = await published();
    const events = await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("acme", "t-1", "2024-07-10T10:00:00Z")]);
    expect(events.status).toBe(402);
    expect(events.body).toEqual({
      rule: "G1",
      error:
        "organization acme is on the plus plan without a payment method, and a shared organization on a paid plan is usable only with one (G1): add a card (ledger orgs set acme --plan plus --payment-method), or move it to the developer plan; nothing was published or counted",
    });
    const run = await api.call("POST", "/runs", key, { id: "0190c1c0-0000-7000-8000-000000000001", name: "r", run_type: "chain", start_time: "2024-07-10T10:00:00Z", session_name: "p" });
    expect(run.status).toBe(402);
    const feedback = await api.call("POST", "/feedback", key, { id: "0190c1c0-0000-7000-8000-0000000000f1", run_id: "0190c1c0-0000-7000-8000-000000000001", trace_id: "0190c1c0-0000-7000-8000-000000000001", key: "ok" });
    expect(feedback.status).toBe(402);
    expect(await published()).toBe(before);
    // Reads and the admin API keep working.
    expect((await api.call("GET", "/v1/usage?org=acme", key)).status).toBe(200);
    expect((await api.call("GET", "/v1/limits?org=acme", key)).status).toBe(200);
    const shown = await runLedger(["limits", "--org", "acme", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(shown.stdout).toContain("acme: plan plus, no payment method, shared\ningest is refused: organization acme is on the plus plan without a payment method");
    // A card on file, or a plan that needs none, lets it in; Enterprise is exempt.
    await api.org("acme", { plan: "plus", payment_method: true });
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("acme", "t-1", "2024-07-10T10:00:00Z")])).status).toBe(202);
    await api.org("dev", { plan: "developer", payment_method: false });
    await api.org("big", { plan: "enterprise", payment_method: false });
    await api.org("start", { plan: "startup", payment_method: false });
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("dev", "t-2", "2024-07-10T10:00:00Z"), ev.created("big", "t-3", "2024-07-10T10:00:00Z")])).status).toBe(202);
    // A request naming a gated organization among others is refused whole.
    const mixed = await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("dev", "t-4", "2024-07-10T10:00:00Z"), ev.created("start", "t-5", "2024-07-10T10:00:00Z")]);
    expect(mixed.status).toBe(402);
    expect(mixed.body.error).toMatch(/^organization start is on the startup plan without a payment method/);
  });

  test("G2: a personal organization is Developer only and has one workspace: a second one, a key for it, or events for it are refused", async () => {
    const plus = await api.call("PUT", "/v1/admin/orgs/solo", TEST_PLATFORM_KEY, { plan: "plus", payment_method: true, kind: "personal" });
    expect(plus.status).toBe(400);
    expect(plus.body.error).toContain("plan must be developer for a personal organization (G2");
    await api.org("solo", { plan: "developer", payment_method: true, kind: "personal" });
    await api.workspace("solo", "mine", { default_retention: "base" });
    const second = await api.call("PUT", "/v1/admin/orgs/solo/workspaces/other", TEST_PLATFORM_KEY, { default_retention: "base" });
    expect(second.status).toBe(403);
    expect(second.body).toEqual({ rule: "G2", error: "organization solo is a personal organization, which has one workspace (mine); it cannot have workspace other (G2); nothing was changed" });
    const key = await api.call("POST", "/v1/admin/keys", TEST_PLATFORM_KEY, { org_id: "solo", workspace_id: "other", kind: "service" });
    expect(key.status).toBe(403);
    const before = await published();
    const events = await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("solo", "t-6", "2024-07-10T10:00:00Z", "base", { ws: "other" })]);
    expect(events.status).toBe(403);
    expect(events.body.error).toBe("organization solo is a personal organization, which has one workspace (mine): events for workspace other are refused (G2); nothing was published or counted");
    expect(await published()).toBe(before);
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("solo", "t-6", "2024-07-10T10:00:00Z", "base", { ws: "mine" })])).status).toBe(202);
    expect((await api.call("POST", "/v1/admin/keys", TEST_PLATFORM_KEY, { org_id: "solo", workspace_id: "mine", kind: "service" })).status).toBe(201);
    // One seat: a second user's is refused; a swap (removal, then addition) is not.
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [bill.seatAdded("solo", "me", "2024-07-10T09:00:00Z")])).status).toBe(202);
    await stack.waitUntilDrained({ timeoutMs: 60_000 });
    const friend = await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [bill.seatAdded("solo", "friend", "2024-07-10T11:00:00Z")]);
    expect(friend.status).toBe(403);
    expect(friend.body.error).toBe("organization solo is a personal organization, which has one seat (held by me): a seat for friend is refused (G2); nothing was published or counted");
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [bill.seatAdded("solo", "me", "2024-07-10T11:00:00Z")])).status).toBe(202);
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [bill.seatRemoved("solo", "me", "2024-07-10T12:00:00Z"), bill.seatAdded("solo", "friend", "2024-07-10T12:00:00Z")])).status).toBe(202);
    // A shared organization has as many workspaces as it likes.
    await api.org("team", { plan: "developer", payment_method: true });
    await api.workspace("team", "a", { default_retention: "base" });
    expect((await api.call("PUT", "/v1/admin/orgs/team/workspaces/b", TEST_PLATFORM_KEY, { default_retention: "base" })).status).toBe(200);
  });

  test("LG1's cap and LG2: a legacy organization without a card is let in with the Developer cap; it claims the early users' credit once", async () => {
    await api.org("old", { plan: "plus", payment_method: false, created_at: "2024-03-15T00:00:00Z" });
    expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [ev.created("old", "t-7", "2024-07-10T10:00:00Z")])).status).toBe(202);
    const limits = await api.call("GET", "/v1/admin/limits?org=old", TEST_PLATFORM_KEY);
    expect(limits.body).toMatchObject({ plan: "plus", payment_method: false, kind: "shared", legacy: true, ingest_refusal: null });
    expect(limits.body.limits).toContainEqual(expect.objectContaining({ limit: "plan:traces_per_month", limit_value: 5_000 }));
    await api.org("old", { plan: "plus", payment_method: true, created_at: "2024-03-15T00:00:00Z" });
    const carded = await api.call("GET", "/v1/admin/limits?org=old", TEST_PLATFORM_KEY);
    expect(carded.body.limits.find((l: { limit: string }) => l.limit === "plan:traces_per_month")).toBeUndefined();

    // LG2: the claim takes the ledger's amount; a second claim, or a newer organization's, is refused.
    const claim = await api.call("POST", "/v1/admin/orgs/old/credits", TEST_PLATFORM_KEY, { grant_id: "early", reason: "early-user" });
    expect(claim.status).toBe(201);
    expect(claim.body).toMatchObject({ type: "credit-granted", grant_id: "early", reason: "early-user", amount_usd: "50.00" });
    const again = await api.call("POST", "/v1/admin/orgs/old/credits", TEST_PLATFORM_KEY, { grant_id: "early-2", reason: "early-user" });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe("old has claimed the early users' credit already (grant early); it is claimed once (LG2); nothing was changed");
    const young = await api.call("POST", "/v1/admin/orgs/acme/credits", TEST_PLATFORM_KEY, { grant_id: "early", reason: "early-user" });
    expect(young.status).toBe(409);
    expect(young.body.error).toContain("only an organization created before 2024-04-02 (a legacy one, LG1) may claim the early users' credit, and acme has no created_at");
    await api.org("older", { plan: "developer", payment_method: false, created_at: "2023-12-01T00:00:00Z" });
    const wrong = await api.call("POST", "/v1/admin/orgs/older/credits", TEST_PLATFORM_KEY, { grant_id: "early", reason: "early-user", amount_usd: "500" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toContain("is not the early users' credit ($50.00, LEDGER_EARLY_USER_CREDIT_USD)");
    const noAmount = await api.call("POST", "/v1/admin/orgs/older/credits", TEST_PLATFORM_KEY, { grant_id: "welcome", reason: "welcome" });
    expect(noAmount.status).toBe(400);
    expect(noAmount.body.error).toContain("amount_usd is required");
  });
});

describe("LG1's invoices, replayed", () => {
  test("a legacy organization's months before July 2024 are at zero with the reason, late effects included; July is charged", async () => {
    const log = [
      bill.plus("old", "2024-01-01T00:00:00Z", { created_at: "2024-03-01T00:00:00Z" }),
      bill.plus("new", "2024-01-01T00:00:00Z", { created_at: "2024-04-02T00:00:00Z" }),
      bill.seatAdded("old", "u1", "2024-05-10T00:00:00Z"),
      bill.seatAdded("new", "u1", "2024-05-10T00:00:00Z"),
      { id: "close-june", type: "period-closed", period: "2024-06" },
      // After June's close: a June seat, on a seat invoice (SA2), still at no charge.
      bill.seatAdded("old", "u2", "2024-06-20T00:00:00Z"),
      bill.seatAdded("old", "u3", "2024-07-16T00:00:00Z"),
    ];
    const r = await runLedger(["replay", "-", "--invoices", "--json", "--quiet"], { input: log.map((l) => JSON.stringify(l)).join("\n") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const of = (org: string, period: string) => lines.filter((l) => l.org_id === org && l.period === period).map(({ org_id: _o, period: _p, status: _s, ...rest }) => rest);
    const reason = "legacy organization (created before 2024-04-02): no charge before 2024-07 (LG1)";
    // May's seat invoice: u1's May proration, at no charge; May's invoice: June's seat in advance, at no charge.
    expect(of("old", "2024-05-10")).toEqual([
      expect.objectContaining({ kind: "seat_proration", usage_period: "2024-05", user_id: "u1", unit_price_usd: "39.00", amount_usd: "0.00", reason }),
      { kind: "total", amount_usd: "0.00", credits_usd: "0.00", amount_due_usd: "0.00" },
    ]);
    expect(of("old", "2024-05")).toEqual([
      expect.objectContaining({ kind: "seats", usage_period: "2024-06", quantity: 1, amount_usd: "0.00", reason }),
      { kind: "total", amount_usd: "0.00", credits_usd: "0.00", amount_due_usd: "0.00" },
    ]);
    // u2's June seat came after June closed: on 20 June's seat invoice (the log's time), still at no charge.
    expect(of("old", "2024-06-20")).toEqual([
      expect.objectContaining({ kind: "seat_proration", usage_period: "2024-06", user_id: "u2", amount_usd: "0.00", reason }),
      { kind: "total", amount_usd: "0.00", credits_usd: "0.00", amount_due_usd: "0.00" },
    ]);
    // June's invoice holds July's seat (u1): July is charged.
    expect(of("old", "2024-06")).toEqual([
      expect.objectContaining({ kind: "seats", usage_period: "2024-07", quantity: 1, amount_usd: "39.00" }),
      { kind: "total", amount_usd: "39.00", credits_usd: "0.00", amount_due_usd: "39.00" },
    ]);
    // July's preview holds August's three seats; u2's July seat and u3's proration wait for 16 July's seat invoice.
    expect(of("old", "2024-07")).toEqual([
      expect.objectContaining({ kind: "seats", usage_period: "2024-08", quantity: 3, amount_usd: "117.00" }),
      { kind: "total", amount_usd: "117.00", credits_usd: "0.00", amount_due_usd: "117.00" },
    ]);
    // Created on the day pricing began: not legacy.
    expect(of("new", "2024-05-10")).toEqual([
      expect.objectContaining({ kind: "seat_proration", user_id: "u1", amount_usd: "27.677419" }),
      { kind: "total", amount_usd: "27.677419", credits_usd: "0.00", amount_due_usd: "27.68" },
    ]);
    expect(of("new", "2024-05")).toEqual([
      expect.objectContaining({ kind: "seats", usage_period: "2024-06", quantity: 1, amount_usd: "39.00" }),
      { kind: "total", amount_usd: "39.00", credits_usd: "0.00", amount_due_usd: "39.00" },
    ]);
  }, 180_000);
});
