import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { queryUsage } from "@ledger/clickhouse";
import { freshStack } from "../support/engines";
import { billThroughPipeline, ev, referenceTuples, tuples } from "../support/pipeline";
import { generateWorkload } from "../support/workload";

// Daily rollups (migration 0008, services/sealer): sealed days are read from their seal, a day
// that receives a row after its seal (a re-delivery, a late trace) is counted from its rows until
// it is sealed again, and every figure stays the reference ledger's throughout.
let stack: LedgerStack;
const events = generateWorkload({ traces: 2_000, maxTriggers: 4, seed: 808 });
beforeAll(async () => {
  // Quiet for 5 s before sealing: long enough that a test reads a re-delivered day before its reseal.
  stack = await freshStack({ label: "rollups", sealer: { quietMs: 5_000, intervalMs: 500, batchDays: 5_000 } });
});
afterAll(async () => {
  await stack?.stop();
});

const rows = async <T>(query: string) => (await (await stack.clickhouse.client.query({ query, format: "JSONEachRow" })).json()) as T[];
const t = (name: string) => stack.clickhouse.table(name);
/** (org, workspace, day) not read from a seal: never sealed, or touched since. */
const unsealed = async () =>
  Number(
    (
      await rows<{ n: string }>(`
      SELECT count() AS n FROM (SELECT org_id, workspace_id, day, max(touched_at) AS touched FROM ${t("daily_touches_v1")} GROUP BY org_id, workspace_id, day) AS x
      LEFT JOIN (SELECT org_id, workspace_id, day, max(sealed_at) AS sealed FROM ${t("daily_sealed_v1")} GROUP BY org_id, workspace_id, day) AS s
      USING (org_id, workspace_id, day) WHERE s.sealed < x.touched`)
    )[0]!.n,
  );
const usage = async () => tuples(await queryUsage(stack.clickhouse, { by: "workspace" }));
const waitUntilSealed = async () => {
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  await expect.poll(unsealed, { timeout: 30_000, interval: 250 }).toBe(0);
};

test("every day is sealed once quiet, and the sealed figures are the reference ledger's", async () => {
  const billed = await billThroughPipeline(stack, events);
  expect(billed).toEqual(referenceTuples(events));
  await waitUntilSealed();
  expect(Number((await rows<{ n: string }>(`SELECT count() AS n FROM ${t("daily_sealed_v1")}`))[0]!.n)).toBeGreaterThan(0);
  expect(await usage()).toEqual(referenceTuples(events));
});

test("re-deliveries and late traces on sealed days: exact while unsealed, exact once resealed", async () => {
  const created = events.filter((e) => e.type === "trace-created").slice(0, 200);
  const late = created.slice(0, 20).map((c, i) => ev.created(c.org_id!, `late-${i}`, c.occurred_at!, "base", { ws: c.workspace_id }));
  const all = [...events, ...created, ...late];
  await billThroughPipeline(stack, [...created, ...late]);
  // Before the sealer runs again (it waits 5 s of quiet), these days are dirty and counted raw.
  const dirty = await unsealed();
  const now = await usage();
  expect(now).toEqual(referenceTuples(all));
  expect(dirty).toBeGreaterThan(0);
  await waitUntilSealed();
  expect(await usage()).toEqual(referenceTuples(all));
});

test("a sealed day is read from its seal, not from its rows (daily_booked_counts_v1)", async () => {
  await waitUntilSealed();
  const [day] = await rows<{ org_id: string; workspace_id: string; day: string; base: string }>(
    `SELECT org_id, workspace_id, toString(day) AS day, base_traces AS base FROM ${t("daily_usage_v1")} WHERE base_traces > 0 ORDER BY org_id, workspace_id, day LIMIT 1`,
  );
  // A seal newer than the day's rows decides its figures: proof the rows are not re-counted.
  await stack.clickhouse.client.insert({
    table: t("daily_sealed_v1"),
    values: [{ org_id: day!.org_id, workspace_id: day!.workspace_id, day: day!.day, metric: "base", first_booked: "2000-01", traces: 1_000_000, sealed_at: "2099-01-01 00:00:00.000" }],
    format: "JSONEachRow",
  });
  const [after] = await rows<{ base: string }>(
    `SELECT base_traces AS base FROM ${t("daily_usage_v1")} WHERE org_id = '${day!.org_id}' AND workspace_id = '${day!.workspace_id}' AND day = '${day!.day}'`,
  );
  expect(Number(after!.base)).toBe(1_000_000);
});
