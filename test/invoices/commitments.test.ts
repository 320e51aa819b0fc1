import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { runLedger } from "../support/cli";
import { bill, invoiceEvents } from "../support/invoices";
import { ev } from "../support/pipeline";
import { waitFor } from "../support/wait";

// §10.8's worked example through the whole pipeline (`ledger replay --invoices --json`): annual
// invoices issued by the log's time, the commitment drawn down by monthly invoices; then the
// live ledger issuing by its clock, announcing, and showing the burndown (AC3).
const enterprise = (org: string, at: string, more: Record<string, unknown> = {}) => ({
  id: `cfg-${org}-${at}`,
  type: "org-configured",
  occurred_at: at,
  org_id: org,
  plan: "enterprise",
  payment_method: true,
  seat_price_usd: "100",
  commitment_usd: "1000",
  term_start: "2024-06",
  ...more,
});
const close = (period: string) => ({ id: `close-${period}`, type: "period-closed", period });

describe("§10.8 worked example, replayed", () => {
  test("an annual invoice at each term year's first event, its credit drawn down monthly; a plan change ends the term's renewals", async () => {
    const log = [
      enterprise("acme", "2024-05-20T00:00:00Z"),
      enterprise("beta", "2024-05-01T00:00:00Z", { commitment_usd: "500" }),
      bill.seatAdded("acme", "u1", "2024-05-25T00:00:00Z"),
      close("2024-05"),
      // The log's time reaches June: both term years begin here.
      bill.seatAdded("acme", "u2", "2024-06-16T00:00:00Z"),
      close("2024-06"),
      close("2024-07"),
      // beta leaves Enterprise before its anniversary: no second annual invoice.
      bill.plus("beta", "2025-01-01T00:00:00Z"),
      bill.seatAdded("acme", "u3", "2025-06-03T00:00:00Z"),
    ];
    const r = await runLedger(["replay", "-", "--invoices", "--json", "--quiet"], { input: log.map((l) => JSON.stringify(l)).join("\n") });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const of = (org: string, period: string) => lines.filter((l) => l.org_id === org && l.period === period).map(({ org_id: _o, period: _p, ...rest }) => rest);
    const annual = (from: string, to: string, amount: string) => [
      { status: "closed", kind: "annual_commitment", usage_period: from, last_period: to, quantity: 1, free_quantity: 0, unit_price_usd: amount, amount_usd: amount },
      { status: "closed", kind: "total", amount_usd: amount, credits_usd: "0.00", amount_due_usd: amount },
    ];

    // May: June's seat in advance (u1, known at May's close), at June's $100. The term starts in
    // June: a May invoice takes no June grant.
    expect(of("acme", "2024-05")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seats", usage_period: "2024-06", quantity: 1, amount_usd: "100.00" }),
      { status: "closed", kind: "total", amount_usd: "100.00", credits_usd: "0.00", amount_due_usd: "100.00" },
    ]);
    // u1's May proration on 25 May's seat invoice, issued when the log passed 26 May 01:00: before the term.
    expect(of("acme", "2024-05-25")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seat_proration", usage_period: "2024-05", user_id: "u1", amount_usd: "22.580645" }),
      { status: "closed", kind: "total", amount_usd: "22.580645", credits_usd: "0.00", amount_due_usd: "22.58" },
    ]);
    // June: the annual invoice (issued when the log's time reached June), then the month: July's two seats, paid by the commitment.
    expect(of("acme", "2024-06")).toEqual([
      ...annual("2024-06", "2025-05", "1000.00"),
      expect.objectContaining({ status: "closed", kind: "seats", usage_period: "2024-07", quantity: 2, amount_usd: "200.00" }),
      { status: "closed", kind: "credit", grant_id: "commitment/acme/2024-06", amount_usd: "-200.00" },
      { status: "closed", kind: "total", amount_usd: "200.00", credits_usd: "200.00", amount_due_usd: "0.00" },
    ]);
    // u2's June proration on 16 June's seat invoice, issued when the log passed 17 June 01:00: June's charge, the commitment pays.
    expect(of("acme", "2024-06-16")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seat_proration", usage_period: "2024-06", user_id: "u2", amount_usd: "50.00" }),
      { status: "closed", kind: "credit", grant_id: "commitment/acme/2024-06", amount_usd: "-50.00" },
      { status: "closed", kind: "total", amount_usd: "50.00", credits_usd: "50.00", amount_due_usd: "0.00" },
    ]);
    expect(of("acme", "2024-07")).toEqual([
      expect.objectContaining({ status: "closed", kind: "seats", usage_period: "2024-08", quantity: 2, amount_usd: "200.00" }),
      { status: "closed", kind: "credit", grant_id: "commitment/acme/2024-06", amount_usd: "-200.00" },
      { status: "closed", kind: "total", amount_usd: "200.00", credits_usd: "200.00", amount_due_usd: "0.00" },
    ]);
    // Open months are previews against what the final invoices left ($550): each shows its own draw.
    for (const p of ["2024-08", "2025-05"]) {
      expect(of("acme", p)).toEqual([
        expect.objectContaining({ status: "open", kind: "seats", quantity: 2, amount_usd: "200.00" }),
        { status: "open", kind: "credit", grant_id: "commitment/acme/2024-06", amount_usd: "-200.00" },
        { status: "open", kind: "total", amount_usd: "200.00", credits_usd: "200.00", amount_due_usd: "0.00" },
      ]);
    }
    // The second term year: its own invoice and grant; the first term's grant no longer applies.
    // u3's June proration is assigned to 3 June 2025's seat invoice, not due when the log ends.
    expect(of("acme", "2025-06")).toEqual([
      ...annual("2025-06", "2026-05", "1000.00"),
      expect.objectContaining({ status: "open", kind: "seats", usage_period: "2025-07", quantity: 3, amount_usd: "300.00" }),
      { status: "open", kind: "credit", grant_id: "commitment/acme/2025-06", amount_usd: "-300.00" },
      { status: "open", kind: "total", amount_usd: "300.00", credits_usd: "300.00", amount_due_usd: "0.00" },
    ]);
    expect(of("acme", "2025-06-03")).toEqual([]);
    // beta has no usage: its one annual invoice is all it is billed.
    expect(lines.filter((l) => l.org_id === "beta").map(({ org_id: _o, period: _p, ...rest }) => rest)).toEqual(annual("2024-06", "2025-05", "500.00"));
  }, 180_000);
});

describe("annual invoices by the ledger's clock, announced, and the burndown", () => {
  let stack: LedgerStack;
  let api: ReturnType<typeof ledgerApi>;
  let nowMs = Date.parse("2024-06-20T12:00:00Z");
  const clock = { now: () => nowMs };
  beforeAll(async () => {
    stack = await freshStack({ label: "commitments", ingest: true, clock });
    api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test("issued once when the clock reaches the term, announced, drawn down by final invoices, and burned down at the last 30 days' rate (AC1–AC3)", async () => {
    // Refusals name the field: a commitment is Enterprise's, and needs both its parts.
    const plus = await api.call("PUT", "/v1/admin/orgs/acme", TEST_PLATFORM_KEY, { plan: "plus", commitment_usd: "1000", term_start: "2024-06" });
    expect(plus.status).toBe(400);
    expect(JSON.stringify(plus.body)).toContain("commitment_usd");
    expect(JSON.stringify(plus.body)).toContain("only on the enterprise plan");
    const half = await api.call("PUT", "/v1/admin/orgs/acme", TEST_PLATFORM_KEY, { plan: "enterprise", commitment_usd: "1000" });
    expect(half.status).toBe(400);
    expect(JSON.stringify(half.body)).toContain("term_start");

    // Term from July: nothing is due in June.
    await api.org("acme", { plan: "enterprise", payment_method: true, seat_price_usd: "300", commitment_usd: "3000", term_start: "2024-07", occurred_at: "2024-06-01T00:00:00Z" });
    await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, [bill.seatAdded("acme", "u1", "2024-06-10T00:00:00Z"), bill.seatAdded("acme", "u2", "2024-06-10T00:00:00Z")]);
    const traces = Array.from({ length: 30 }, (_, i) => ev.created("acme", `t-${i}`, `2024-07-${String(1 + (i % 20)).padStart(2, "0")}T10:00:00Z`));
    await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, traces);
    await stack.waitUntilDrained({ timeoutMs: 60_000 });
    expect(await stack.invoicer.issueDueCommitments(clock.now())).toEqual([]);
    // The invoicer's seat pass (every few seconds) learns the June prorations on 20 June.
    await stack.invoicer.issueDueSeats(clock.now());
    expect((await api.call("GET", "/v1/credits/acme", TEST_PLATFORM_KEY)).body).not.toHaveProperty("commitment");

    // July 21: the clock is in the term; the next pass issues the annual invoice, once.
    nowMs = Date.parse("2024-07-21T00:00:00Z");
    const credits = async () => (await api.call("GET", "/v1/credits/acme", TEST_PLATFORM_KEY)).body as Record<string, any>;
    await waitFor("the annual invoice", async () => (await credits()).commitment !== undefined, 30_000, 100);
    await stack.invoicer.close("2024-06");
    await stack.invoicer.waitUntilFinal("2024-06", 60_000);
    // 20 June's seat invoice has long been due: the next seat pass issues it.
    await stack.invoicer.issueDueSeats(clock.now());

    const issued = (await invoiceEvents(stack)).map((m) => m.event);
    const annual = issued.filter((e) => e.kind === "annual_commitment");
    expect(annual).toEqual([
      {
        type: "invoice-issued",
        invoice_id: "annual_commitment/2024-07/acme",
        kind: "annual_commitment",
        org_id: "acme",
        period: "2024-07",
        issued_at: "2024-07-21T00:00:00.000Z",
        lines: [{ org_id: "acme", period: "2024-07", status: "closed", kind: "annual_commitment", usage_period: "2024-07", last_period: "2025-06", quantity: 1, free_quantity: 0, unit_price_usd: "3000.00", amount_usd: "3000.00" }],
        total_usd: "3000.00",
        credits_usd: "0.00",
        amount_due_usd: "3000.00",
        currency: "USD",
      },
    ]);
    // June's invoice holds July's two seats in advance ($600); a June invoice takes no grant of
    // the term from July. The June prorations (21 of 30 days each), learned on 20 June after
    // their day's seat invoice was due, are on 20 June's, issued by the next pass: due in full.
    const june = issued.find((e) => e.invoice_id === "monthly/2024-06/acme")!;
    expect(june).toMatchObject({ total_usd: "600.00", credits_usd: "0.00", amount_due_usd: "600.00" });
    const prorations = issued.find((e) => e.invoice_id === "seats/2024-06-20/acme")!;
    expect(prorations).toMatchObject({ kind: "seats", period: "2024-06-20", total_usd: "420.00", credits_usd: "0.00", amount_due_usd: "420.00", issued_at: "2024-07-21T00:00:00.000Z" });
    expect(prorations.lines.map((l: Record<string, unknown>) => [l.kind, l.user_id, l.amount_usd])).toEqual([["seat_proration", "u1", "210.00"], ["seat_proration", "u2", "210.00"]]);

    // The burndown: July's 30 traces (free) and two seats at $300 a month cost $600 in 30 days,
    // $20 a day; from July's start, $3,000 runs out after 150 days: in November.
    const doc = await credits();
    expect(doc.commitment).toEqual({
      term_start: "2024-07",
      last_period: "2025-06",
      committed_usd: "3000.00",
      consumed_usd: "0.00",
      remaining_usd: "3000.00",
      months_left: 12,
      rate_usd_per_day: "20.0005",
      runs_out: "2024-11",
      issued_at: "2024-07-21T00:00:00.000Z",
    });
    expect(doc.annual_invoices).toEqual([{ invoice_id: "annual_commitment/2024-07/acme", term_start: "2024-07", last_period: "2025-06", amount_usd: "3000.00", issued_at: "2024-07-21T00:00:00.000Z" }]);
    expect(doc.grants).toEqual([expect.objectContaining({ grant_id: "commitment/acme/2024-07", amount_usd: "3000.00", first_period: "2024-07", last_period: "2025-06", reason: "commitment" })]);

    // July becomes final: the commitment pays it, and the balance and burndown follow.
    nowMs = Date.parse("2024-08-02T00:00:00Z");
    await stack.invoicer.close("2024-07");
    await stack.invoicer.waitUntilFinal("2024-07", 60_000);
    const july = (await api.call("GET", "/v1/invoices/acme/2024-07", TEST_PLATFORM_KEY)).body as Record<string, any>;
    expect(july).toMatchObject({ total_usd: "600.00", credits_usd: "600.00", amount_due_usd: "0.00" });
    const after = await credits();
    expect(after.commitment).toMatchObject({ consumed_usd: "600.00", remaining_usd: "2400.00", months_left: 11 });
    expect(((await invoiceEvents(stack)).map((m) => m.event)).filter((e) => e.kind === "annual_commitment")).toHaveLength(1);

    // Every invoice of the organization, annual and monthly, with kind, issue time, status and amount due.
    const index = (await api.call("GET", "/v1/invoices/acme", TEST_PLATFORM_KEY)).body as { invoices: { period: string }[] };
    expect(index.invoices.filter((i) => i.period <= "2024-07")).toEqual([
      { invoice_id: "monthly/2024-07/acme", kind: "monthly", period: "2024-07", status: "closed", issued_at: expect.any(String), total_usd: "600.00", credits_usd: "600.00", amount_due_usd: "0.00" },
      { invoice_id: "annual_commitment/2024-07/acme", kind: "annual_commitment", period: "2024-07", status: "closed", issued_at: "2024-07-21T00:00:00.000Z", total_usd: "3000.00", credits_usd: "0.00", amount_due_usd: "3000.00" },
      { invoice_id: "monthly/2024-06/acme", kind: "monthly", period: "2024-06", status: "closed", issued_at: expect.any(String), total_usd: "600.00", credits_usd: "0.00", amount_due_usd: "600.00" },
      { invoice_id: "seats/2024-06-20/acme", kind: "seats", period: "2024-06-20", status: "closed", issued_at: "2024-07-21T00:00:00.000Z", total_usd: "420.00", credits_usd: "0.00", amount_due_usd: "420.00" },
    ]);
    const listed = await runLedger(["invoice", "--org", "acme", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(listed.stderr).toBe("");
    expect(listed.stdout).toMatch(/^annual_commitment\/2024-07\/acme +annual_commitment +2024-07 +final +2024-07-21T00:00:00\.000Z +\$3000\.00 +\$3000\.00$/m);

    const cli = await runLedger(["credits", "list", "--org", "acme", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
    expect(cli.stderr).toBe("");
    expect(cli.stdout).toContain("commitment 2024-07…2025-06: committed $3000.00, consumed $600.00, remaining $2400.00, 11 month(s) left");
  }, 180_000);
});
