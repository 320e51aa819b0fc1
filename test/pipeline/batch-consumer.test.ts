import { afterEach, expect, test } from "vitest";
import { BatchConsumer, createKafka, createProducer, publish, type PartitionBatch } from "@ledger/kafka";
import { freshEngines } from "../support/engines";
import { waitFor } from "../support/wait";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/**
 * The consumer behind the sink and the upgrader: while one batch of a partition is handled the
 * next ones are fetched, and handled after it as one batch; a failure is retried from the last
 * commit. Every message is handled in order per partition, none is skipped, and the group's
 * commits reach the end.
 */
test("batches fetched while one is handled become one batch; a retriable failure resumes from the last commit, in order", async () => {
  const engines = await freshEngines("lanes");
  const topic = `${engines.kafka.topicPrefix}.lanes`;
  const groupId = `${engines.kafka.topicPrefix}.lanes-group`;
  const kafka = createKafka(engines.kafka.brokers!, "lanes-test");
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  cleanups.push(() => producer.disconnect(), () => admin.disconnect());

  // 40 produce requests of 25 messages over 4 keys: the broker holds 40 record batches per key.
  const keys = ["a", "b", "c", "d"];
  for (let r = 0; r < 40; r++) {
    await publish(producer, topic, keys.flatMap((key) => Array.from({ length: 25 }, (_, i) => ({ key, value: `${key}:${r * 25 + i}` }))));
  }

  const seen = new Map<string, number[]>(); // per key, the sequence numbers handled, in order
  const sizes: number[] = [];
  let failed = false;
  const fatal: Error[] = [];
  const consumer = new BatchConsumer({
    kafka,
    admin,
    groupId,
    topics: [topic],
    onFatal: (e) => fatal.push(e),
    handle: async (batch: PartitionBatch) => {
      // Slow effects: the fetcher runs ahead meanwhile.
      await new Promise((r) => setTimeout(r, 150));
      const values = batch.messages.map((m) => m.value!.toString());
      if (!failed && values.some((v) => v === "b:500")) {
        failed = true; // once, half way through b: nothing of this batch may count as done
        throw Object.assign(new Error("ClickHouse is away"), { retriable: true });
      }
      sizes.push(batch.messages.length);
      for (const v of values) {
        const [key, n] = v.split(":");
        seen.set(key!, [...(seen.get(key!) ?? []), Number(n)]);
      }
    },
  });
  await consumer.start();
  cleanups.push(() => consumer.stop());

  await waitFor("4,000 distinct messages handled", () => [...seen.values()].reduce((n, s) => n + new Set(s).size, 0) >= 4_000, 60_000);
  expect(fatal).toEqual([]);
  expect(failed).toBe(true);
  for (const key of keys) {
    // In order per partition, nothing missing, nothing twice: the failed batch counted for
    // nothing and was handled again from the last commit.
    expect(seen.get(key)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
  }
  // Batches were merged: some handled batch holds more than one produce request's 25 messages.
  expect(Math.max(...sizes)).toBeGreaterThan(25);

  // The group's commits reach the end of every partition.
  const committedDeadline = Date.now() + 20_000;
  let lag = Number.POSITIVE_INFINITY;
  while (lag > 0 && Date.now() < committedDeadline) {
    const [committed, high] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
    const byPartition = new Map(committed[0]!.partitions.map((p) => [p.partition, BigInt(p.offset)]));
    // A partition nothing was produced to has no commit (-1) and high watermark 0.
    lag = high.reduce((s, w) => s + Number(BigInt(w.high) - ((byPartition.get(w.partition) ?? -1n) < 0n ? BigInt(w.low) : byPartition.get(w.partition)!)), 0);
    if (lag > 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect(lag).toBe(0);
}, 90_000);
