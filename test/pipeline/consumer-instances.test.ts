import { Registry } from "prom-client";
import { afterAll, expect, test } from "vitest";
import { invoiceDocument, type InvoiceDocument } from "@ledger/billing";
import { queryUsage } from "@ledger/clickhouse";
import { validateBatch } from "@ledger/events";
import { Sink, sinkConfigFromEnv } from "@ledger/sink";
import type { LedgerStack } from "@ledger/stack";
import { Upgrader, upgraderConfigFromEnv } from "@ledger/upgrader";
import { freshStack } from "../support/engines";
import { referenceTuples, tuples } from "../support/pipeline";
import { generateWorkload } from "../support/workload";
import { waitFor } from "../support/wait";

// The upgrader and the sink in two instances each, sharing their consumer groups (each its own
// kafkajs consumer on the test cluster, sharing the chDB connection): a second pair joins in the
// middle of the log, so partitions move between instances while traces are in flight.
const stacks: LedgerStack[] = [];
const extras: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const e of extras) await e.stop().catch(() => {});
  for (const s of stacks) await s.stop().catch(() => {});
});

/** How many batches a registry's consumer handled (its step histogram's count). */
async function batches(registry: Registry, metric: string): Promise<number> {
  const text = await registry.metrics();
  return [...text.matchAll(new RegExp(`^${metric}_count\\{[^}]*\\} (\\d+)$`, "gm"))].reduce((sum, m) => sum + Number(m[1]), 0);
}

test("two upgraders and two sinks, the second pair joining mid-log: the bill is the reference's and no trace is upgraded twice", async () => {
  const s = await freshStack({ label: "instances" });
  stacks.push(s);
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
  expect(await upgradedTwice(s)).toEqual([]);
}, 240_000);

/** June's and July's final invoices of every organization of the log (each month closed by command). */
async function finalInvoices(s: LedgerStack, log: readonly Record<string, string>[]): Promise<InvoiceDocument[]> {
  await s.invoicer.close("2024-06");
  await s.invoicer.waitUntilFinal("2024-06", 120_000);
  await s.invoicer.close("2024-07");
  await s.invoicer.waitUntilFinal("2024-07", 120_000);
  const docs: InvoiceDocument[] = [];
  for (const org of [...new Set(log.map((e) => e.org_id!))].sort()) {
    for (const period of ["2024-06", "2024-07"]) docs.push(invoiceDocument(await s.invoicer.reads.invoice(org, period)));
  }
  return docs;
}

async function upgradedTwice(s: LedgerStack): Promise<unknown[]> {
  const rs = await s.clickhouse.client.query({
    query: `SELECT org_id, trace_id, uniqExact(occurred_at) AS times FROM ${s.clickhouse.table("retention_upgrades_v1")} GROUP BY org_id, trace_id HAVING times > 1`,
    format: "JSONEachRow",
  });
  return rs.json();
}

// A partition moves while its batches are in flight: the aborted pair's leave makes the others'
// commits meet a rebalance, and what they fetched before learning of it must not be handled
// past the batches that refusal dropped (packages/kafka/test/rebalance-fence.test.ts).
test("an upgrader and a sink stopped abruptly mid-log (no commit, no drain), the other pair taking their partitions: the bill and every invoice equal a run without them", async () => {
  const log = generateWorkload({ traces: 5_000, seed: 17, boundary: "2024-07-01T00:00:00Z" });
  const events = validateBatch(log);

  const plain = await freshStack({ label: "plain" });
  stacks.push(plain);
  for (let i = 0; i < events.length; i += 1_000) await plain.publisher.publish(events.slice(i, i + 1_000));
  await plain.waitUntilDrained({ timeoutMs: 120_000 });
  const reference = await finalInvoices(plain, log);
  await plain.stop();

  const s = await freshStack({ label: "abrupt" });
  stacks.push(s);
  const registry = new Registry();
  const common = { kafka: s.kafka, admin: s.admin, producer: s.producer, clickhouse: s.clickhouse, topics: s.topics, registry, onFatal: (error: Error) => { throw error; } };
  const upgrader = new Upgrader({ ...common, groupId: s.groups.upgrader, config: { ...upgraderConfigFromEnv(), lingerMs: 50 } });
  const sink = new Sink({ ...common, groupId: s.groups.sink, config: sinkConfigFromEnv() });
  extras.push(upgrader, sink);
  await Promise.all([upgrader.start(), sink.start()]);
  const third = Math.floor(events.length / 3);
  for (let i = 0; i < third; i += 500) await s.publisher.publish(events.slice(i, Math.min(i + 500, third)));
  // Killed while they hold partitions with work in flight: the rest of the log is still arriving.
  await waitFor("the second pair to work", async () => (await batches(registry, "ledger_upgrader_step_seconds")) > 0 && (await batches(registry, "ledger_sink_batch_rows")) > 0, 60_000, 20);
  const publishing = (async () => {
    for (let i = third; i < events.length; i += 500) await s.publisher.publish(events.slice(i, i + 500));
  })();
  await Promise.all([upgrader.abort(), sink.abort()]);
  await publishing;
  await s.waitUntilDrained({ timeoutMs: 180_000 });

  expect(tuples(await queryUsage(s.clickhouse, { by: "workspace" }))).toEqual(referenceTuples(log));
  expect(await upgradedTwice(s)).toEqual([]);
  expect(await finalInvoices(s, log)).toEqual(reference);
}, 300_000);
