import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { billThroughPipeline, ev } from "../support/pipeline";
import { runLedger } from "../support/cli";

// `ledger sql` and POST /v1/admin/sql: analysts read the ledger's ClickHouse; ClickHouse itself
// (readonly = 2) refuses every write, whatever the text looks like.
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
let db: string;
beforeAll(async () => {
  stack = await freshStack({ label: "sql", ingest: true });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  db = stack.clickhouse.database;
  await billThroughPipeline(stack, [ev.created("acme", "t1", "2024-06-01T00:00:00Z"), ev.created("acme", "t2", "2024-06-02T00:00:00Z"), ev.created("beta", "t3", "2024-07-01T00:00:00Z")]);
});
afterAll(async () => {
  await stack?.stop();
});

const file = join(tmpdir(), `ledger-sql-test-${process.pid}.csv`);
const sql = (query: string, format?: string, key: string | null = TEST_PLATFORM_KEY) => api.call("POST", "/v1/admin/sql", key, { query, ...(format ? { format } : {}) });
const count = async () => {
  const r = await sql(`SELECT count() FROM ${db}.trace_events_v1`, "TSV");
  if (r.status !== 200) throw new Error(`count: ${r.status} ${JSON.stringify(r.body)}`);
  if (!/^\d+\n$/.test(r.body.output)) throw new Error(`count: ${JSON.stringify(r.body.output)}`);
  return Number(r.body.output);
};

test("a query answers in the format asked for; the default is a table", async () => {
  const csv = await sql(`SELECT org_id, sum(base_traces) AS base FROM ${db}.billing_usage_v1 GROUP BY org_id ORDER BY org_id`, "CSVWithNames");
  expect(csv.status).toBe(200);
  expect(csv.body.output).toBe('"org_id","base"\n"acme",2\n"beta",1\n');
  const table = await sql(`SELECT count() AS traces FROM ${db}.trace_events_v1`);
  expect(table.body.output).toMatch(/traces[\s\S]*3/);
  expect(table.body.output).toMatch(/[┌│]/);
});

test("writes, DDL, file access and lowering readonly are refused by ClickHouse; nothing changes", async () => {
  const before = await count();
  for (const query of [
    `INSERT INTO ${db}.trace_events_v1 (id, type, org_id) VALUES ('x', 'trace-created', 'acme')`,
    `DROP TABLE ${db}.trace_events_v1`,
    `ALTER TABLE ${db}.trace_events_v1 DELETE WHERE 1`,
    `INSERT INTO ${db}.trace_events_v1 (id) SETTINGS readonly = 0 VALUES ('x')`,
    `SELECT * FROM ${db}.trace_events_v1 SETTINGS readonly = 0`,
    `INSERT INTO FUNCTION file('${file}', 'CSV') SELECT 1`,
    `SELECT * FROM file('/etc/hostname', 'LineAsString')`,
    `SELECT 1; INSERT INTO ${db}.trace_events_v1 (id) VALUES ('x')`,
  ]) {
    const r = await sql(query);
    expect(r.status, query).toBe(400);
    expect(r.body.error, query).toMatch(/^ClickHouse refused the query: .*readonly/i);
  }
  expect(await count()).toBe(before);
  expect(existsSync(file)).toBe(false);
  // The ledger's own session is untouched: what arrives next is still written and billed.
  const rows = await billThroughPipeline(stack, [ev.created("acme", "t4", "2024-06-03T00:00:00Z")]);
  expect(rows.find((r) => r[0] === "acme" && r[2] === "2024-06")?.[3]).toBe(3);
  expect(await count()).toBe(before + 1);
});

test("only the platform key; bad requests are sentences", async () => {
  const key = (await api.key("acme", "ws")).key;
  expect((await sql("SELECT 1", undefined, key)).status).toBe(403);
  expect((await sql("SELECT 1", undefined, null)).status).toBe(401);
  const badFormat = await sql("SELECT 1", "CSV; DROP TABLE x");
  expect(badFormat.status).toBe(400);
  expect(badFormat.body.error).toMatch(/format "CSV; DROP TABLE x" is not a ClickHouse output format name/);
  const unknown = await sql(`SELECT * FROM ${db}.no_such_table`);
  expect(unknown.status).toBe(400);
  expect(unknown.body.error).toMatch(/no_such_table/);
  const missing = await api.call("POST", "/v1/admin/sql", TEST_PLATFORM_KEY, {});
  expect(missing.status).toBe(400);
  expect(missing.body.error).toMatch(/query must be the SQL text/);
});

test("ledger sql prints ClickHouse's output, and says ClickHouse's refusal with exit code 2", async () => {
  const env = { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY };
  const ok = await runLedger(["sql", `SELECT org_id, count() AS n FROM ${db}.trace_events_v1 GROUP BY org_id ORDER BY org_id`, "--format", "TSV", "--url", stack.url!], { env });
  expect(ok.code).toBe(0);
  expect(ok.stdout).toBe("acme\t3\nbeta\t1\n");
  const refused = await runLedger(["sql", `DROP TABLE ${db}.trace_events_v1`, "--url", stack.url!], { env });
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/the ledger answered 400: ClickHouse refused the query: .*readonly/i);
  expect(await count()).toBe(4);
});
