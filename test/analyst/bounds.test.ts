import { afterAll, beforeAll, expect, test } from "vitest";
import { startEdgeLedger, type EdgeLedger } from "../support/edge";
import { SERVE_PLATFORM_KEY } from "../support/serve-process";
import { waitFor } from "../support/wait";

// An analyst's query is bounded in time, memory and result size by ClickHouse itself, stopped
// when its client goes away, and cannot keep `ledger serve` from stopping: against serve as a
// process, its API thread included.
let ledger: EdgeLedger;
/** A ledger whose analysts may run ten minutes: whatever stops a query there, it is not the time bound. */
let patient: EdgeLedger;
beforeAll(async () => {
  ledger = await startEdgeLedger("bounds", { LEDGER_ANALYST_MAX_SECONDS: "2", LEDGER_ANALYST_MAX_MEMORY_BYTES: String(200 * 1024 ** 2), LEDGER_ANALYST_MAX_RESULT_BYTES: String(1024 ** 2) });
  patient = await startEdgeLedger("patient", { LEDGER_ANALYST_MAX_SECONDS: "600" });
}, 180_000);
afterAll(async () => {
  await ledger?.stop();
  await patient?.stop();
});

const HEAVY = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 3";
const sql = (query: string, signal?: AbortSignal, on = ledger) =>
  fetch(`${on.url}/v1/admin/sql`, { method: "POST", headers: { "x-api-key": SERVE_PLATFORM_KEY, "content-type": "application/json" }, body: JSON.stringify({ query, format: "TSV" }), ...(signal ? { signal } : {}) });
/** The analysts' queries ClickHouse is running now, as an analyst sees them. */
const running = async (on: EdgeLedger) => {
  const res = await sql("SELECT count() FROM system.processes WHERE position(query, 'sipHash64') > 0 AND position(query, 'system.processes') = 0", undefined, on);
  return Number((await res.json()).output);
};

test("each bound stops a query with a 400 that names it and the setting that raises it", async () => {
  const cases: [string, RegExp][] = [
    [HEAVY, /ran longer than LEDGER_ANALYST_MAX_SECONDS allows \(max_execution_time\)/],
    // 1 KB a row: the memory bound is met within a few hundred thousand rows, long before the time bound.
    ["SELECT groupArray(repeat('x', 1000)) FROM numbers(200000000)", /more memory than LEDGER_ANALYST_MAX_MEMORY_BYTES allows \(max_memory_usage\)/],
    ["SELECT number FROM numbers(10000000)", /result is larger than LEDGER_ANALYST_MAX_RESULT_BYTES allows \(max_result_bytes\)/],
  ];
  for (const [query, sentence] of cases) {
    const res = await sql(query);
    expect({ query, status: res.status, error: (await res.json()).error }).toEqual({ query, status: 400, error: expect.stringMatching(sentence) });
  }
  // The bounds are the session's, below readonly: an analyst cannot raise them.
  const raised = await sql(`${HEAVY} SETTINGS max_execution_time = 1000`);
  expect(raised.status).toBe(400);
  expect((await raised.json()).error).toMatch(/readonly/i);
});

test("a client that goes away has its query stopped, not left using a core", async () => {
  const gone = sql(HEAVY, AbortSignal.timeout(1_000), patient).catch(() => "aborted");
  await waitFor("the query to run", async () => (await running(patient)) > 0);
  expect(await gone).toBe("aborted");
  await waitFor("the abandoned query to stop", async () => (await running(patient)) === 0, 10_000, 50);
});

test("SIGTERM ends serve within 30 s while an analyst's query runs", async () => {
  const long = sql(HEAVY, undefined, patient).then((r) => r.status, () => "no answer");
  await waitFor("the query to run", async () => (await running(patient)) > 0);
  const started = Date.now();
  patient.serve.child.kill("SIGTERM");
  expect(await patient.serve.exited).toBe(0);
  expect(Date.now() - started).toBeLessThan(30_000);
  expect(await long).toBe(400); // stopped, and told so
});
