import { afterEach, expect, test } from "vitest";
import { createKafka, createProducer, DataLossError, publish } from "@ledger/kafka";
import { validateBatch } from "@ledger/events";
import { LedgerStack } from "@ledger/stack";
import { upgraderConfigFromEnv } from "@ledger/upgrader";
import { sinkConfigFromEnv } from "@ledger/sink";
import { freshEngines } from "../support/engines";
import { ev } from "../support/pipeline";
import { waitFor } from "../support/wait";

const stacks: LedgerStack[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.stop().catch(() => {});
});

test("a consumer whose next offset the broker already deleted stops loudly instead of skipping", async () => {
  const engines = await freshEngines("loss");
  const start = async () => {
    const s = await LedgerStack.start({ engines, upgrader: upgraderConfigFromEnv(), sink: sinkConfigFromEnv() });
    stacks.push(s);
    return s;
  };
  const first = await start();
  await first.publisher.publish(validateBatch([ev.created("loss", "t", "2024-06-01T00:00:00Z")]));
  await first.waitUntilDrained();
  await first.stop();

  // While nobody consumes, write far more than the test broker keeps (5 MB per partition).
  const kafka = createKafka(engines.kafka.brokers!, "loss-filler");
  const producer = createProducer(kafka);
  await producer.connect();
  const big = "x".repeat(50_000);
  for (let i = 0; i < 40; i++) {
    await publish(
      producer,
      `${engines.kafka.topicPrefix}.trace-events`,
      Array.from({ length: 20 }, (_, k) => ({ key: `loss/filler-${i}-${k}`, value: big })),
    );
  }
  await producer.disconnect();

  const second = await start();
  await waitFor("the restarted consumer to stop", () => second.fatal ?? undefined, 60_000);
  expect(second.fatal).toBeInstanceOf(DataLossError);
  expect(second.fatal!.message).toMatch(/data loss on .*trace-events\[\d\] for group .*: the next offset to read is \d+ but the broker keeps only offsets from \d+/);
  await expect(second.ready()).rejects.toBeInstanceOf(DataLossError);
});
