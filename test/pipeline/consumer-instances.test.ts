import { Registry } from "prom-client";
import { afterAll, expect, test } from "vitest";
import { queryUsage } from "@ledger/clickhouse";
import { validateBatch } from "@ledger/events";
import { Sink, sinkConfigFromEnv } from "@ledger/sink";
import type { LedgerStack } from "@ledger/stack";
import { Upgrader, upgraderConfigFromEnv } from "@ledger/upgrader";
import { freshStack } from "../support/engines";
import { referenceTuples, tuples } from "../support/pipeline";
import { generateWorkload } from "../support/workload";

// The upgrader and the sink in two instances each, sharing their consumer groups (each its own
// kafkajs consumer on the test cluster, sharing the chDB connection): a second pair joins in the
// middle of the log, so partitions move between instances while traces are in flight.
let stack: LedgerStack | undefined;
const extras: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const e of extras) await e.stop().catch(() => {});
  await stack?.stop();
});

/** How many batches a registry's consumer handled (its step histogram's count). */
async function batches(registry: Registry, metric: string): Promise<number> {
  const text = await registry.metrics();
  return [...text.matchAll(new RegExp(`^${metric}_count\\{[^}]*\\} (\\d+)$`, "gm"))].reduce((sum, m) => sum + Number(m[1]), 0);
}

test("two upgraders and two sinks, the second pair joining mid-log: the bill is the reference's and no trace is upgraded twice", async () => {
  stack = await freshStack({ label: "instances" });
  const s = stack;
  const log = generateWorkload({ traces: 6_000, seed: 11 });
  const events = validateBatch(log);
  const half = events.length >> 1;
  for (let i = 0; i < half; i += 500) await s.publisher.publish(events.slice(i, Math.min(i + 500, half)));

  const registry = new Registry();
  const common = { kafka: s.kafka, admin: s.admin, producer: s.producer, clickhouse: s.clickhouse, topics: s.topics, registry, onFatal: (error: Error) => { throw error; } };
  const upgrader = new Upgrader({ ...common, groupId: s.groups.upgrader, config: upgraderConfigFromEnv() });
  const sink = new Sink({ ...common, groupId: s.groups.sink, config: sinkConfigFromEnv() });
  extras.push(upgrader, sink);
  await Promise.all([upgrader.start(), sink.start()]);

  for (let i = half; i < events.length; i += 500) await s.publisher.publish(events.slice(i, i + 500));
  await s.waitUntilDrained({ timeoutMs: 120_000 });

  // The joining pair took partitions and worked on them.
  expect(await batches(registry, "ledger_upgrader_step_seconds")).toBeGreaterThan(0);
  expect(await batches(registry, "ledger_sink_batch_rows")).toBeGreaterThan(0);
  expect(tuples(await queryUsage(s.clickhouse, { by: "workspace" }))).toEqual(referenceTuples(log));
  // Each upgraded trace has one upgrade time, however often its upgrade was re-delivered.
  const twice = await s.clickhouse.client.query({
    query: `SELECT org_id, trace_id, uniqExact(occurred_at) AS times FROM ${s.clickhouse.table("retention_upgrades_v1")} GROUP BY org_id, trace_id HAVING times > 1`,
    format: "JSONEachRow",
  });
  expect(await twice.json()).toEqual([]);
}, 240_000);
