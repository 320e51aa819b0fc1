import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { billThroughPipeline, referenceTuples, type Tuple } from "../support/pipeline";
import { generateWorkload } from "../support/workload";

// daily_usage_v1 (migration 0006): a period's days add up to billing_usage_v1 and to the
// reference ledger, and base traces fall on the UTC day of their creation, counted once.
let stack: LedgerStack;
const events = generateWorkload({ traces: 3_000, maxTriggers: 4, seed: 77 });
let billed: Tuple[];
beforeAll(async () => {
  stack = await freshStack({ label: "daily" });
  billed = await billThroughPipeline(stack, events);
});
afterAll(async () => {
  await stack?.stop();
});

const rowsOf = async <T>(query: string) => (await (await stack.clickhouse.client.query({ query, format: "JSONEachRow" })).json()) as T[];

test("a period's days add up to its billing usage, which is the reference ledger's", async () => {
  expect(billed).toEqual(referenceTuples(events));
  const days = await rowsOf<{ org_id: string; workspace_id: string; period: string; base: string; upgrades: string }>(
    `SELECT org_id, workspace_id, formatDateTime(period_start, '%Y-%m') AS period, sum(base_traces) AS base, sum(extended_upgrades) AS upgrades
     FROM ${stack.clickhouse.table("daily_usage_v1")} GROUP BY org_id, workspace_id, period ORDER BY org_id, workspace_id, period`,
  );
  const summed: Tuple[] = days.map((d) => [d.org_id, d.workspace_id, d.period, Number(d.base), Number(d.upgrades)]);
  expect(summed.filter((t) => t[3] > 0 || t[4] > 0)).toEqual(billed);
});

test("base traces fall on the UTC day of their creation, once each despite re-deliveries", async () => {
  const expected = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.type !== "trace-created") continue;
    const k = `${e.org_id}|${e.workspace_id}|${e.occurred_at!.slice(0, 10)}`;
    if (!expected.has(k)) expected.set(k, new Set());
    expected.get(k)!.add(e.trace_id!);
  }
  const days = await rowsOf<{ org_id: string; workspace_id: string; day: string; base_traces: string }>(
    `SELECT org_id, workspace_id, toString(day) AS day, base_traces FROM ${stack.clickhouse.table("daily_usage_v1")} WHERE base_traces > 0`,
  );
  expect(new Map(days.map((d) => [`${d.org_id}|${d.workspace_id}|${d.day}`, Number(d.base_traces)]))).toEqual(new Map([...expected].map(([k, s]) => [k, s.size])));
  expect(events.length).toBeGreaterThan(new Set(events.map((e) => `${e.org_id}|${e.id}`)).size); // the log has re-deliveries
});
