import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { queryUsage, unsealedHours } from "@ledger/clickhouse";
import { freshStack } from "../support/engines";
import { billThroughPipeline, ev, referenceTuples, tuples } from "../support/pipeline";
import { generateWorkload } from "../support/workload";

// Rollups (migration 0008, services/sealer): sealed hours are read from their seal, an hour that
// receives a row after its seal (a re-delivery, a late trace) is counted from its rows until it
// is sealed again, and every figure stays the reference ledger's throughout.
let stack: LedgerStack;
const events = generateWorkload({ traces: 2_000, maxTriggers: 4, seed: 808 });
beforeAll(async () => {
  // Quiet for 5 s before sealing: long enough that a test reads a re-delivered hour before its reseal.
  stack = await freshStack({ label: "rollups", sealer: { quietMs: 5_000, intervalMs: 500, batchHours: 20_000 } });
});
afterAll(async () => {
  await stack?.stop();
});

const rows = async <T>(query: string) => (await (await stack.clickhouse.client.query({ query, format: "JSONEachRow" })).json()) as T[];
const t = (name: string) => stack.clickhouse.table(name);
const usage = async () => tuples(await queryUsage(stack.clickhouse, { by: "workspace" }));
const waitUntilSealed = async () => {
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  await expect.poll(() => unsealedHours(stack.clickhouse), { timeout: 30_000, interval: 250 }).toBe(0);
};

test("every hour is sealed once quiet, and the sealed figures are the reference ledger's", async () => {
  const billed = await billThroughPipeline(stack, events);
  expect(billed).toEqual(referenceTuples(events));
  await waitUntilSealed();
  expect(Number((await rows<{ n: string }>(`SELECT count() AS n FROM ${t("trace_hour_seals_v1")}`))[0]!.n)).toBeGreaterThan(0);
  expect(await usage()).toEqual(referenceTuples(events));
});

test("re-deliveries and late traces in sealed hours: exact while unsealed, exact once resealed", async () => {
  const created = events.filter((e) => e.type === "trace-created").slice(0, 200);
  const late = created.slice(0, 20).map((c, i) => ev.created(c.org_id!, `late-${i}`, c.occurred_at!, "base", { ws: c.workspace_id }));
  const all = [...events, ...created, ...late];
  await billThroughPipeline(stack, [...created, ...late]);
  // Before the sealer runs again (it waits 5 s of quiet), these hours are counted from their rows.
  const dirty = await unsealedHours(stack.clickhouse);
  expect(await usage()).toEqual(referenceTuples(all));
  expect(dirty).toBeGreaterThan(0);
  await waitUntilSealed();
  expect(await usage()).toEqual(referenceTuples(all));
});

test("instants at both ends of the valid range (1970, 2199) are counted in their days and periods", async () => {
  const edge = [ev.created("edge", "t-1970", "1970-01-01T00:30:00Z"), ev.created("edge", "t-2199", "2199-12-31T23:30:00Z"), ev.feedback("edge", "t-2199", "2199-12-31T23:59:59Z")];
  await billThroughPipeline(stack, edge);
  expect((await queryUsage(stack.clickhouse, { org: "edge", by: "workspace" })).map((r) => [r.period, r.base_traces, r.extended_upgrades])).toEqual([
    ["1970-01", 1, 0],
    ["2199-12", 1, 1],
  ]);
  const days = await rows<{ day: string; base: string }>(`SELECT toString(day) AS day, base_traces AS base FROM ${t("daily_usage_v1")} WHERE org_id = 'edge' ORDER BY day`);
  expect(days.map((d) => [d.day, Number(d.base)])).toEqual([
    ["1970-01-01", 1],
    ["2199-12-31", 1],
  ]);
});

test("a trace booked in two periods (re-delivered after a close) counts once, by its first booking, unsealed and sealed", async () => {
  // Rows as the sink writes them: t-a delivered in time (booked June) and again after June closed
  // (booked July); t-b only late (booked July); t-c in time.
  const row = (id: string, trace: string, booked: string) => ({
    org_id: "twice", id, type: "trace-created", occurred_at: "2024-06-30 10:00:00.000", period: "2024-06", workspace_id: "prod", trace_id: trace,
    received_at: "2024-06-30 10:00:00.000", kafka_partition: 0, kafka_offset: 0, booked_period: booked,
  });
  await stack.clickhouse.client.insert({ table: t("trace_events_v1"), values: [row("c-a", "t-a", "2024-06"), row("c-c", "t-c", "2024-06")], format: "JSONEachRow" });
  await stack.clickhouse.client.insert({ table: t("trace_events_v1"), values: [row("c-a", "t-a", "2024-07"), row("c-b", "t-b", "2024-07")], format: "JSONEachRow" });
  const counts = async () =>
    (await rows<{ first_booked: string; traces: string }>(
      `SELECT first_booked, sum(traces) AS traces FROM ${t("daily_booked_counts_v1")}(org = 'twice', from = '2024-06-30', to = '2024-06-30') GROUP BY first_booked ORDER BY first_booked`,
    )).map((r) => [r.first_booked, Number(r.traces)]);
  const expected = [["2024-06", 2], ["2024-07", 1]];
  expect(await counts()).toEqual(expected);
  await waitUntilSealed();
  expect(await counts()).toEqual(expected);
});

test("a sealed hour is read from its seal, not from its rows (daily_booked_counts_v1)", async () => {
  await waitUntilSealed();
  const [hour] = await rows<{ org_id: string; workspace_id: string; hour: string; day: string }>(
    `SELECT org_id, workspace_id, toString(hour) AS hour, toString(toDate(hour)) AS day FROM ${t("trace_hours_v1")} WHERE metric = 'base' ORDER BY org_id, workspace_id, hour LIMIT 1`,
  );
  const day = async () =>
    Number(
      (await rows<{ base: string }>(`SELECT base_traces AS base FROM ${t("daily_usage_v1")} WHERE org_id = '${hour!.org_id}' AND workspace_id = '${hour!.workspace_id}' AND day = '${hour!.day}'`))[0]!.base,
    );
  const before = await day();
  // A seal newer than the hour's rows decides its figures: proof the rows are not re-counted.
  await stack.clickhouse.client.insert({
    table: t("trace_hour_seals_v1"),
    values: [{ org_id: hour!.org_id, workspace_id: hour!.workspace_id, hour: hour!.hour, counts: [{ metric: "base", first_booked: "2000-01", traces: 1_000_000 }], sealed_at: "2099-01-01 00:00:00.000" }],
    format: "JSONEachRow",
  });
  const [own] = await rows<{ n: string }>(
    `SELECT uniqExact(trace_id) AS n FROM ${t("trace_hours_v1")} WHERE org_id = '${hour!.org_id}' AND workspace_id = '${hour!.workspace_id}' AND hour = '${hour!.hour}' AND metric = 'base'`,
  );
  // The fake seal has no upgrades: the hour's upgrades (if any) drop out of the day as well.
  expect(await day()).toBe(before - Number(own!.n) + 1_000_000);
});
