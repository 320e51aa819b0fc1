import { MessageChannel } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { backendOverHttp, type LedgerBackend } from "@ledger/api";
import { backendOverPort, serveBackend } from "../../services/api/src/backend/over-port";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { ev } from "../support/pipeline";

// The API's one contract with the process that holds ClickHouse, answered the same by every
// implementation and transport: in process, across a worker thread's channel, over HTTP to a
// primary (a replica's). The same calls, the same values, the same refusals (status, sentence,
// retriable), whatever carries them.
let stack: LedgerStack;
const channel = new MessageChannel();
const transports: Record<string, () => LedgerBackend> = {};
beforeAll(async () => {
  stack = await freshStack({ label: "contract", ingest: true });
  const api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  const events = [ev.created("acme", "t1", "2024-06-10T10:00:00Z"), ev.created("acme", "t2", "2024-06-11T10:00:00Z"), ev.feedback("acme", "t1", "2024-06-12T10:00:00Z")];
  expect((await api.post(TEST_PLATFORM_KEY, events)).status).toBe(202);
  await stack.waitUntilDrained();
  serveBackend(channel.port1, stack.backend());
  const overPort = backendOverPort(channel.port2);
  const overHttp = backendOverHttp(stack.url!, TEST_PLATFORM_KEY);
  transports["in process"] = () => stack.backend();
  transports["over a port"] = () => overPort;
  transports["over HTTP"] = () => overHttp;
});
afterAll(async () => {
  channel.port1.close();
  channel.port2.close();
  await stack?.stop();
});

/** What a call came to: its value, or its refusal as data. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    const value = await call();
    return { value: value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : value };
  } catch (error) {
    const e = error as { status?: number; message: string; retriable?: boolean };
    return { refused: { status: e.status, message: e.message, retriable: e.retriable } };
  }
}

const calls: [string, (b: LedgerBackend) => Promise<unknown>][] = [
  ["usage by workspace", (b) => b.usage({ org: "acme", by: "workspace" })],
  ["daily usage", async (b) => {
    const { as_of: _readAt, ...figures } = await b.dailyUsage({ org: "acme", days: 30, through: "2024-06-30" });
    return figures;
  }],
  ["a month's outlook", async (b) => {
    const { as_of: _readAt, ...figures } = await b.monthOutlook({ org: "acme", period: "2024-06", through: "2024-06-20" });
    return figures;
  }],
  ["an outlook through a day of another month", (b) => b.monthOutlook({ org: "acme", period: "2024-06", through: "2024-07-01" })],
  ["an organization's current prices", (b) => b.currentPrices("acme")],
  ["an open period's invoice", (b) => b.invoice("acme", "2024-06")],
  ["an organization's invoices", async (b) => {
    const { periods, invoices } = await b.invoiceIndex("acme");
    return { periods: periods.filter((p) => p.period <= "2024-12"), invoices: invoices.filter((i) => i.period <= "2024-12") };
  }],
  ["the webhook's deliveries", (b) => b.webhooks({ limit: 200 })],
  ["an organization's seat holders", (b) => b.seatHolders("acme")],
  ["a resend of an invoice never queued", (b) => b.resendWebhook("monthly/2024-06/acme")],
  ["a line's sources", async (b) => {
    const s = await b.lineSources("acme", "2024-06", 1);
    return { line: s.line, sources: s.sources.length };
  }],
  ["a line that does not exist", (b) => b.lineSources("acme", "2024-06", 99)],
  ["the catalogue", (b) => b.catalogue()],
  ["an open month's export", (b) => b.exportPeriod("2024-06", "invoice_lines", "CSVWithNames")],
  ["closing a month not over", (b) => b.closePeriod("2999-01", false)],
  // Before the first version: refused by the catalogue (400), nothing added.
  ["a catalogue version out of order", async (b) => b.addCatalogueVersion({ ...(await b.catalogue())[0]!, version: undefined } as never)],
  ["an analyst's read", (b) => b.analystQuery("SELECT 1 + 1 AS two", "JSONEachRow", "contracttest01")],
  ["an analyst's write", (b) => b.analystQuery(`DROP TABLE ${stack.clickhouse.table("trace_events_v1")}`, "JSONEachRow", "contracttest02")],
  ["an analyst's unknown format", (b) => b.analystQuery("SELECT 1", "No Such Format", "contracttest03")],
  ["the account events", async (b) => (await b.accountEvents()).map((e) => e.type)],
  ["readiness", (b) => b.ready()],
];

describe("every transport answers every call as the implementation does", () => {
  for (const [what, call] of calls) {
    test(what, async () => {
      const expected = await outcome(() => call(transports["in process"]!()));
      for (const name of ["over a port", "over HTTP"]) {
        expect({ transport: name, outcome: await outcome(() => call(transports[name]!())) }).toEqual({ transport: name, outcome: expected });
      }
    });
  }

  test("the refusals above are refusals: each with its status, sentence and retriable", async () => {
    const refused = async (call: (b: LedgerBackend) => Promise<unknown>) => ((await outcome(() => call(stack.backend()))) as { refused?: { status: number } }).refused?.status;
    expect(await refused((b) => b.lineSources("acme", "2024-06", 99))).toBe(404);
    expect(await refused((b) => b.monthOutlook({ org: "acme", period: "2024-06", through: "2024-07-01" }))).toBe(400);
    expect(await refused((b) => b.exportPeriod("2024-06", "invoice_lines", "CSVWithNames"))).toBe(409);
    expect(await refused((b) => b.closePeriod("2999-01", false))).toBe(400);
    expect(await refused((b) => b.analystQuery("DROP TABLE x", "JSONEachRow", "contracttest04"))).toBe(400);
  });
});
