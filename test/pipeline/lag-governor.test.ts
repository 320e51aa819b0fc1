import { afterAll, expect, test } from "vitest";
import { consumerLag, createKafka, createProducer, LagGovernor, LagTimeoutError, ledgerTopics, publish } from "@ledger/kafka";
import { freshEngines } from "../support/engines";

// The backpressure bound with a topic of its own bound (the runs topic): its lag is scaled, so
// 60 run messages on a partition weigh what 600 events do when runs are bounded at a tenth.
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
});

test("a topic with its own bound fills the governor's window sooner, in proportion", async () => {
  const engines = await freshEngines("lag");
  const topics = ledgerTopics(engines.kafka.topicPrefix);
  const kafka = createKafka(engines.kafka.brokers!, "lag-test");
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  cleanups.push(() => producer.disconnect(), () => admin.disconnect());
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
