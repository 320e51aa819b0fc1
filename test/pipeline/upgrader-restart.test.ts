import { afterEach, expect, test } from "vitest";
import { queryUsage } from "@ledger/clickhouse";
import { validateBatch } from "@ledger/events";
import { LedgerStack } from "@ledger/stack";
import { upgraderConfigFromEnv } from "@ledger/upgrader";
import { sinkConfigFromEnv } from "@ledger/sink";
import { freshEngines } from "../support/engines";
import { ev, tuples } from "../support/pipeline";

const stacks: LedgerStack[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.stop().catch(() => {});
});

// A large cache holds a partition's whole stored state (loaded once per assignment); a cache of
// one trace keeps evicting, so every batch looks its traces up in ClickHouse instead.
test.each([
  ["the whole partition loaded at assignment", 200_000],
  ["per-batch lookups (cache of 1)", 1],
])("the upgrader's state survives a restart: a new instance decides from the stored state (%s)", async (_mode, cachePerPartition) => {
  const engines = await freshEngines("restart");
  const start = async () => {
    const s = await LedgerStack.start({ engines, upgrader: { ...upgraderConfigFromEnv(), cachePerPartition }, sink: sinkConfigFromEnv() });
    stacks.push(s);
    return s;
  };
  const first = await start();
  await first.publisher.publish(
    validateBatch([
      ev.created("r", "old", "2024-06-01T00:00:00Z"),
      ev.created("r", "clamped", "2024-06-30T12:00:00Z"),
      ev.feedback("r", "done", "2024-06-10T00:00:00Z"), // U5: upgraded without a creation
    ]),
  );
  await first.waitUntilDrained();
  await first.stop();

  // A fresh instance: empty caches; the topics keep only what it has not read yet.
  const second = await start();
  await second.publisher.publish(
    validateBatch([
      ev.rule("r", "old", "2024-06-15T00:00:00Z"), // creation + 14 days: expired, known only from the store
      ev.queue("r", "clamped", "2024-06-29T00:00:00Z"), // before the stored creation: clamped to it
      ev.feedback("r", "done", "2024-07-02T00:00:00Z"), // already upgraded (U1)
      ev.created("r", "done", "2024-06-09T00:00:00Z"),
    ]),
  );
  await second.waitUntilDrained();
  const lookups = (await second.registry.getSingleMetric("ledger_upgrader_state_lookups_total")!.get()).values[0]!.value;
  if (cachePerPartition === 1) expect(lookups).toBeGreaterThan(0);
  else expect(lookups).toBe(0);
  expect(tuples(await queryUsage(second.clickhouse, { by: "workspace" }))).toEqual([["r", "prod", "2024-06", 3, 2]]);
  const rs = await second.clickhouse.client.query({
    query: `SELECT trace_id, occurred_at FROM ${second.clickhouse.table("retention_upgrades_v1")} FINAL ORDER BY trace_id`,
    format: "JSONEachRow",
  });
  expect(await rs.json()).toEqual([
    { trace_id: "clamped", occurred_at: "2024-06-30 12:00:00.000" },
    { trace_id: "done", occurred_at: "2024-06-10 00:00:00.000" },
  ]);
});
