import { Registry } from "prom-client";
import { afterAll, expect, test } from "vitest";
import { invoiceDocument, type InvoiceDocument } from "@ledger/billing";
import { latestFrozenPeriod } from "@ledger/clickhouse";
import { validateBatch } from "@ledger/events";
import { Invoicer } from "@ledger/invoicer";
import type { KafkaProducer } from "@ledger/kafka";
import { ManualClock } from "@ledger/limits";
import { connectRedis, LeaderLease, type RedisClient } from "@ledger/redis";
import { leaseName, type LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { waitFor } from "../support/wait";
import { generateWorkload } from "../support/workload";

// The invoicer in two instances sharing one deployment (one process here, each instance with its
// own lease client on the deployment's Redis): only the lease holder closes and freezes.
const stacks: LedgerStack[] = [];
const clients: RedisClient[] = [];
const leases: LeaderLease[] = [];
afterAll(async () => {
  for (const l of leases) l.stopRenewing();
  for (const c of clients) c.disconnect();
  for (const s of stacks) await s.stop().catch(() => {});
});

const LEASE_MS = 1_500;
const invoicerConfig = { closeGraceMs: 0, intervalMs: 100 };
const log = generateWorkload({ traces: 2_500, orgs: 4, seed: 23, boundary: "2024-07-01T00:00:00Z" });
const orgs = [...new Set(log.map((e) => e.org_id!))].sort();
const PERIODS = ["2024-06", "2024-07"];

/** Publishes the log, then moves the ledger's clock past June's and July's ends, each closed by the grace of 0. */
async function runMonths(stack: LedgerStack, clock: ManualClock, beforeJuly: () => Promise<void> = async () => {}): Promise<InvoiceDocument[]> {
  const events = validateBatch(log);
  for (let i = 0; i < events.length; i += 1_000) await stack.publisher.publish(events.slice(i, i + 1_000));
  await stack.waitUntilDrained({ timeoutMs: 120_000 });
  const finalThrough = (period: string) =>
    waitFor(`${period} final`, async () => ((await latestFrozenPeriod(stack.clickhouse)) ?? "") >= period, 60_000, 100);
  clock.set("2024-07-01T00:00:00.001Z");
  await finalThrough("2024-06");
  await beforeJuly();
  clock.set("2024-08-01T00:00:00.001Z");
  await finalThrough("2024-07");
  const docs: InvoiceDocument[] = [];
  for (const org of orgs) for (const period of PERIODS) docs.push(invoiceDocument(await stack.invoicer.reads.invoice(org, period)));
  return docs;
}

/** How many `period-closed` markers of each period the sink passed on each partition of the input topic. */
async function markers(stack: LedgerStack): Promise<Record<string, number[]>> {
  const rs = await stack.clickhouse.client.query({
    query: `SELECT period, kafka_partition AS p, count() AS n FROM ${stack.clickhouse.table("period_marks_v1")}
            WHERE consumer = 'sink' AND topic = {topic:String} GROUP BY period, p ORDER BY period, p`,
    query_params: { topic: stack.topics.events },
    format: "JSONEachRow",
  });
  const out: Record<string, number[]> = {};
  for (const r of (await rs.json()) as { period: string; p: number; n: string }[]) (out[r.period] ??= []).push(Number(r.n));
  return out;
}

function instance(stack: LedgerStack, clock: ManualClock, holder: string, producer: KafkaProducer = stack.producer) {
  const client = connectRedis(stack.redisUrl!);
  clients.push(client);
  const lease = new LeaderLease(client, { name: leaseName(stack.deployment, "invoicer"), holder, ttlMs: LEASE_MS });
  leases.push(lease);
  const lines: string[] = [];
  const registry = new Registry();
  const invoicer = new Invoicer({ admin: stack.admin, producer, clickhouse: stack.clickhouse, topics: stack.topics, config: invoicerConfig, registry, now: () => clock.now(), log: (l) => lines.push(l), leadership: lease });
  return { lease, invoicer, lines, registry };
}

let reference: InvoiceDocument[] = [];

test("one invoicer alone: the reference invoices of June and July", async () => {
  const clock = new ManualClock("2024-06-01T00:00:00Z");
  const stack = await freshStack({ label: "solo", clock, invoicer: invoicerConfig });
  stacks.push(stack);
  reference = await runMonths(stack, clock);
  expect(reference.filter((d) => d.lines.length > 0).length).toBeGreaterThanOrEqual(orgs.length);
  expect(reference.every((d) => d.status === "closed")).toBe(true);
  await stack.stop();
}, 240_000);

test("two invoicers: each month closed once, by the leader; the leader killed inside July's close → the other finishes it; invoices identical to one invoicer's", async () => {
  expect(reference.length).toBeGreaterThan(0);
  const clock = new ManualClock("2024-06-01T00:00:00Z");
  const stack = await freshStack({ label: "duo", clock, invoicer: invoicerConfig, roles: ["upgrader", "sink", "sealer"], engines: { redis: { url: undefined, leaseMs: LEASE_MS } } });
  stacks.push(stack);

  // The first instance's producer dies (for good, or paused: `resume`) once Kafka acknowledged July's markers.
  let killed = false;
  let resume!: () => void;
  const resumed = new Promise<void>((r) => (resume = r));
  const dying = Object.create(stack.producer) as KafkaProducer;
  dying.send = async (record) => {
    const result = await stack.producer.send(record);
    if (record.messages.some((m) => String(m.value).includes('"2024-07"'))) {
      killed = true;
      first.lease.stopRenewing();
      await resumed;
    }
    return result;
  };
  const first = instance(stack, clock, "first", dying);
  const second = instance(stack, clock, "second");
  await first.lease.start();
  await second.lease.start();
  expect([first.lease.leads(), second.lease.leads()]).toEqual([true, false]);
  first.invoicer.start();
  second.invoicer.start();

  let juneMarkers: Record<string, number[]> = {};
  const docs = await runMonths(stack, clock, async () => {
    // Both instances have had many passes with June due: one close of it, one marker per partition.
    juneMarkers = await markers(stack);
  });
  expect(killed).toBe(true);
  expect(juneMarkers["2024-05"]).toEqual([1, 1, 1, 1]);
  expect(juneMarkers["2024-06"]).toEqual([1, 1, 1, 1]);
  expect(first.lines.filter((l) => /closed 2024-0[56]/.test(l))).toHaveLength(2);
  expect(second.lines.filter((l) => /closed 2024-0[56]/.test(l))).toHaveLength(0);
  // July: the killed leader's markers, then the second's when it took the lease over and closed again.
  expect(second.lease.leads()).toBe(true);
  expect(second.lines.filter((l) => l.includes("closed 2024-07"))).toHaveLength(1);
  expect((await markers(stack))["2024-07"]).toEqual([2, 2, 2, 2]);
  expect(docs).toEqual(reference);

  // The killed leader resumes (a pause, not a crash): it records nothing and freezes nothing.
  const frozenBefore = await first.registry.getSingleMetricAsString("ledger_invoices_frozen_total");
  resume();
  await new Promise((r) => setTimeout(r, 1_000));
  expect(first.lease.leads()).toBe(false);
  expect(first.lines.filter((l) => l.includes("closed 2024-07"))).toHaveLength(0);
  expect(await first.registry.getSingleMetricAsString("ledger_invoices_frozen_total")).toBe(frozenBefore);
  for (const org of orgs) for (const period of PERIODS) expect(invoiceDocument(await stack.invoicer.reads.invoice(org, period))).toEqual(reference.find((d) => d.org_id === org && d.period === period));
  await Promise.all([first.invoicer.stop(), second.invoicer.stop()]);
}, 300_000);
