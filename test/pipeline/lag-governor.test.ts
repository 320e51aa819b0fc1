import { afterAll, expect, test } from "vitest";
import fc from "fast-check";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { ByteBudgetBound, consumerLag, createKafka, createProducer, LagGovernor, LagTimeoutError, ledgerTopics, publish, runLagBound } from "@ledger/kafka";
import { freshEngines } from "../support/engines";

// The backpressure bound with a topic of its own bound (the runs topic): its lag is scaled, so
// 60 run messages on a partition weigh what 600 events do when runs are bounded at a tenth.
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A fresh broker's topics with a connected producer and admin, disconnected after the file. */
async function freshKafka(label: string) {
  const engines = await freshEngines(label);
  const kafka = createKafka(engines.kafka.brokers!, `${label}-test`);
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  cleanups.push(() => producer.disconnect(), () => admin.disconnect());
  return { engines, topics: ledgerTopics(engines.kafka.topicPrefix), producer, admin };
}

test("a topic with its own bound fills the governor's window sooner, in proportion", async () => {
  const { engines, topics, producer, admin } = await freshKafka("lag");
  const messages = (label: string, n: number) => Array.from({ length: n }, (_, i) => ({ key: `org/${label}-${i}`, value: `{"i":${i}}` }));
  await publish(producer, topics.events, messages("e", 200));
  await publish(producer, topics.runs, messages("r", 200));

  const watches = [{ groupId: `${engines.kafka.topicPrefix}.nobody`, topics: [topics.events, topics.runs] }];
  const lags = await consumerLag(admin, watches[0]!.groupId, watches[0]!.topics);
  const worstOf = (topic: string) => lags.filter((l) => l.topic === topic).reduce((m, l) => (l.lag > m ? l.lag : m), 0n);
  expect(worstOf(topics.events)).toBeGreaterThan(0n);
  expect(worstOf(topics.runs)).toBeGreaterThan(0n);

  const plain = new LagGovernor(admin, watches, 1_000);
  const bounded = new LagGovernor(admin, watches, 1_000, { [topics.runs]: 100 });
  const plainWorst = worstOf(topics.events) > worstOf(topics.runs) ? worstOf(topics.events) : worstOf(topics.runs);
  expect(await plain.worstLag()).toBe(plainWorst);
  const scaledRuns = (worstOf(topics.runs) * 1_000n) / 100n;
  expect(await bounded.worstLag()).toBe(scaledRuns > worstOf(topics.events) ? scaledRuns : worstOf(topics.events));

  // Within 1,000 for both topics unbounded; past it once runs are bounded just below their lag.
  await expect(plain.waitForRoom(500)).resolves.toBeUndefined();
  const tight = new LagGovernor(admin, watches, 1_000, { [topics.runs]: Number(worstOf(topics.runs)) - 1 });
  await expect(tight.waitForRoom(500)).rejects.toBeInstanceOf(LagTimeoutError);
});

test("requests admitted on one lag figure count against the bound together", async () => {
  const { engines, topics, producer, admin } = await freshKafka("lagadmit");
  await publish(producer, topics.events, Array.from({ length: 40 }, (_, i) => ({ key: `org/t-${i}`, value: `{"i":${i}}` })));
  const watches = [{ groupId: `${engines.kafka.topicPrefix}.nobody`, topics: [topics.events] }];
  const worst = (await consumerLag(admin, watches[0]!.groupId, watches[0]!.topics)).reduce((m, l) => (l.lag > m ? l.lag : m), 0n);
  expect(worst).toBeGreaterThan(0n);

  // A figure that is not read again for 5 s: what the governor admits meanwhile adds up.
  const governor = new LagGovernor(admin, watches, 1_000, {}, 5_000);
  const room = 1_000 - Number(worst);
  await expect(governor.waitForRoom(300, room - 10)).resolves.toBeUndefined();
  await expect(governor.waitForRoom(300, 10)).resolves.toBeUndefined();
  // The window is full: one more message waits, and gives up with a retriable error.
  await expect(governor.waitForRoom(300, 1)).rejects.toBeInstanceOf(LagTimeoutError);
});

test("keyed messages count on the partitions the producer sends them to, not all on the fullest", async () => {
  const { engines, topics, producer, admin } = await freshKafka("lagkeys");
  await publish(producer, topics.events, Array.from({ length: 8 }, (_, i) => ({ key: `org/seed-${i}`, value: "{}" })));
  const watches = [{ groupId: `${engines.kafka.topicPrefix}.nobody`, topics: [topics.events] }];
  const before = await consumerLag(admin, watches[0]!.groupId, watches[0]!.topics);
  const partitions = before.length;
  expect(partitions).toBeGreaterThan(1);
  const held = Number(before.find((l) => l.partition === 0)!.lag);
  // Keys by the partition kafkajs' default partitioner (the producer's) gives them.
  const place = Partitioners.DefaultPartitioner();
  const metadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0 })) as PartitionMetadata[];
  const keysOn = (partition: number, n: number, tag: string) => {
    const keys: string[] = [];
    for (let i = 0; keys.length < n; i++) {
      const key = `org/${tag}-${i}`;
      if (place({ topic: topics.events, partitionMetadata: metadata, message: { key, value: null } }) === partition) keys.push(key);
    }
    return keys;
  };
  const governor = new LagGovernor(admin, watches, 1_000, {}, 5_000);
  const spread = Array.from({ length: partitions }, (_, p) => keysOn(p, 200, `spread${p}`)).flat();
  // Requests of 800 messages over every partition: as a count each would fill the window alone.
  await expect(governor.waitForRoom(300, [{ topic: topics.events, keys: spread }])).resolves.toBeUndefined();
  await expect(governor.waitForRoom(300, [{ topic: topics.events, keys: spread }])).resolves.toBeUndefined();
  await expect(governor.waitForRoom(300, spread.length)).rejects.toBeInstanceOf(LagTimeoutError);
  // Partition 0 filled by keys that all land on it: it is full, the others are not.
  const crowded = keysOn(0, 1_000 - 400 - held, "crowded");
  await expect(governor.waitForRoom(300, [{ topic: topics.events, keys: crowded }])).resolves.toBeUndefined();
  await expect(governor.waitForRoom(300, [{ topic: topics.events, keys: keysOn(0, 1, "more") }])).rejects.toBeInstanceOf(LagTimeoutError);
  await expect(governor.waitForRoom(300, [{ topic: topics.events, keys: keysOn(1, 100, "other") }])).resolves.toBeUndefined();
  // And the producer puts them where the governor counted them.
  await publish(producer, topics.events, crowded.map((key) => ({ key, value: "{}" })));
  const after = await consumerLag(admin, watches[0]!.groupId, watches[0]!.topics);
  const grew = (p: number) => Number(after.find((l) => l.partition === p)!.lag - before.find((l) => l.partition === p)!.lag);
  expect(grew(0)).toBe(crowded.length);
  for (let p = 1; p < partitions; p++) expect(grew(p)).toBe(0);
});

test("a byte budget turns into a bound in messages that follows what is published", () => {
  // Before anything is published: 10 KB a message assumed.
  const bound = runLagBound(2_500_000, 8_000);
  expect(bound.messages).toBe(250);
  // Small runs: the bound rises slowly (a moving mean), never past the events' bound.
  for (let i = 0; i < 200; i++) bound.note(Array.from({ length: 30 }, () => 1_800));
  expect(bound.messages).toBeGreaterThan(1_300);
  expect(bound.messages).toBeLessThanOrEqual(Math.floor(2_500_000 / 1_800));
  // One batch of large messages lowers it at once.
  bound.note([500_000, 500_000]);
  expect(bound.messages).toBe(10); // 2.5 MB / 500 KB = 5, and never below 10
  // Tiny messages: capped at the events' bound.
  const tiny = new ByteBudgetBound(2_500_000, 10, 8_000);
  expect(tiny.messages).toBe(8_000);
});

test("property: while sizes are steady the bound keeps a partition's unread bytes within the budget", () => {
  fc.assert(
    fc.property(fc.integer({ min: 100_000, max: 10_000_000 }), fc.integer({ min: 1, max: 2_000_000 }), fc.integer({ min: 1, max: 100 }), (budget, size, batches) => {
      const bound = new ByteBudgetBound(budget, size, 1_000_000);
      for (let i = 0; i < batches; i++) bound.note([size, size]);
      const n = bound.messages;
      // As many messages as the budget holds, unless held at the floor (10) or the cap.
      if (n === 10 && size * 10 > budget) return true;
      if (n === 1_000_000) return n * size <= budget;
      return n * size <= budget && (n + 1) * size > budget;
    }),
  );
});
