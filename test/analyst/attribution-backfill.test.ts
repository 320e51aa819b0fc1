import { afterAll, beforeAll, expect, test } from "vitest";
import { loadMigrations, loadTraceStates } from "@ledger/clickhouse";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { ev } from "../support/pipeline";

// Migration 0021 gives a ledger's existing upgrades their cause's source and project, its hours
// their projects and its upgrader states what new ones record, and finds the alternatives already
// in the log: a ledger that ran before it answers attribution, savings and costs per project as
// one that ran after it. Shown by taking a ledger back to what it held before (the new columns
// emptied, no alternatives) and running the migration's backfill over it.
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
const clock = { now: () => Date.parse("2024-06-28T12:00:00Z") };
beforeAll(async () => {
  stack = await freshStack({ label: "attrbackfill", ingest: true, clock, sealer: { quietMs: 1, intervalMs: 3_600_000, batchHours: 100_000 } });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
});
afterAll(async () => {
  await stack?.stop();
});

const at = (day: number, hour = 10) => `2024-06-${String(day).padStart(2, "0")}T${String(hour).padStart(2, "0")}:00:00Z`;

test("after the backfill, a ledger from before migration 0021 answers attribution, savings and costs per project as a new one", async () => {
  const log: Record<string, unknown>[] = [];
  const created = (trace: string, day: number, project: string, retention: "base" | "extended" = "base", extra: Record<string, unknown> = {}) =>
    log.push({ ...ev.created("acme", trace, at(day), retention), project_id: project, ...extra });
  for (let i = 0; i < 4; i++) {
    created(`r${i}`, 2 + i, i % 2 === 0 ? "p-1" : "p-2");
    log.push({ ...ev.rule("acme", `r${i}`, at(2 + i, 11)), rule_id: "r-12" });
  }
  log.push({ ...ev.feedback("acme", "r1", at(4, 12)), feedback_key: "correctness" }); // r1 has an alternative
  log.push({ ...ev.queue("acme", "r2", at(25, 12)), queue_id: "q-1" }); // after r2 expired: none
  created("k1", 6, "p-2");
  log.push({ ...ev.feedback("acme", "k1", at(6, 11)), feedback_key: "correctness" }, { ...ev.rule("acme", "k1", at(7, 11)), rule_id: "r-12" });
  created("x1", 7, "p-3", "extended", { retention_default: "project" });
  created("plain", 8, "p-3");
  expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, log)).status).toBe(202);
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  await stack.sealer!.round();

  const answers = async () => {
    const read = async (path: string) => {
      const r = await api.call("GET", path, TEST_PLATFORM_KEY);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };
    return {
      cause: await read("/v1/usage/upgrades?org=acme&period=2024-06&by=cause"),
      project: await read("/v1/usage/upgrades?org=acme&period=2024-06&by=project"),
      costs: await read("/v1/usage/costs?org=acme&period=2024-06&by=project"),
    };
  };
  const after = await answers();
  // What the log says (the rule r-12 saved 3 of its 4: r1 had feedback within its 14 days).
  expect(after.cause.rows).toEqual([
    { group: "rule:r-12", upgrades: 4, cost_usd: "0.018", sole_upgrades: 3, saving_usd: "0.0135" },
    { group: "extended creation (the project's default)", upgrades: 1, cost_usd: "0.0045", sole_upgrades: null, saving_usd: null },
    { group: "feedback:correctness", upgrades: 1, cost_usd: "0.0045", sole_upgrades: 0, saving_usd: "0.00" },
  ]);
  expect(after.costs.rows.map((r: { group: string; base_traces: number; extended_upgrades: number }) => [r.group, r.base_traces, r.extended_upgrades])).toEqual([
    ["p-2", 3, 3],
    ["p-1", 2, 2],
    ["p-3", 2, 1],
  ]);

  // Back to a ledger from before the migration.
  const ch = stack.clickhouse;
  const mutate = (sql: string) => ch.client.command({ query: sql, clickhouse_settings: { mutations_sync: "2" } });
  await mutate(`ALTER TABLE ${ch.table("retention_upgrades_v1")} UPDATE cause_source = '', project_id = '' WHERE 1`);
  await mutate(`ALTER TABLE ${ch.table("trace_hours_v1")} UPDATE project_id = '', cause_source = '' WHERE 1`);
  await mutate(`ALTER TABLE ${ch.table("trace_hour_seals_v1")} UPDATE breakdown = [] WHERE 1`);
  await mutate(`ALTER TABLE ${ch.table("upgrader_trace_state_v1")} UPDATE project_id = '', cause_source = '', alternative = 0 WHERE 1`);
  await ch.client.command({ query: `TRUNCATE TABLE ${ch.table("upgrade_alternatives_v1")}` });
  const before = await answers();
  // Its seals have no breakdown and its rows no project or cause: nothing to attribute yet.
  expect(before.cause.rows).toEqual([]);
  expect(before.costs.rows).toEqual([]);

  const backfill = loadMigrations()
    .find((m) => m.name.startsWith("0021_"))!
    .statements.filter((s) => s.startsWith("INSERT INTO"))
    .map((s) => s.replaceAll("{{database}}", ch.database));
  expect(backfill).toHaveLength(4);
  for (const statement of backfill) await ch.client.command({ query: statement });
  expect(await answers()).toEqual(after); // every hour touched: counted from its rows
  await stack.sealer!.round();
  expect(await answers()).toEqual(after); // sealed anew, with projects

  const states = await loadTraceStates(ch, [{ orgId: "acme", traceId: "r1" }, { orgId: "acme", traceId: "plain" }]);
  expect(states.get("acme/r1")).toMatchObject({ projectId: "p-2", cause: "rule:r-12" });
  expect(states.get("acme/plain")).toMatchObject({ projectId: "p-3", cause: "", upgradedAtMs: null });
});
