import { afterEach, beforeEach, expect, test } from "vitest";
import { publish } from "@ledger/kafka";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { billThroughPipeline, ev } from "../support/pipeline";

let stack: LedgerStack;
beforeEach(async () => {
  stack = await freshStack({ label: "dlq" });
});
afterEach(async () => {
  await stack?.stop();
});

test("messages that are not events (written to the topic around ingest) are dead-lettered, the rest billed", async () => {
  const good = ev.created("dlq", "t-1", "2024-06-10T00:00:00Z");
  await publish(stack.producer, stack.topics.events, [
    { key: "dlq/t-1", value: "{not json" },
    { key: "dlq/t-1", value: JSON.stringify({ ...good, id: "sneaky", occurred_at: "2024-06-10T00:00:00.000Z", surprise: 1 }) },
    { key: "dlq/t-1", value: JSON.stringify({ ...good, occurred_at: "2024-06-10T00:00:00.000Z" }) },
  ]);
  const billed = await billThroughPipeline(stack, [ev.feedback("dlq", "t-1", "2024-06-11T00:00:00Z")]);
  expect(billed).toEqual([["dlq", "prod", "2024-06", 1, 1]]);

  // Each consumer gave both bad messages an explicit outcome: a dead-letter copy with reason,
  // step and source, the original key and value kept.
  const consumer = stack.kafka.consumer({ groupId: `${stack.topics.deadLetters}.reader` });
  await consumer.connect();
  await consumer.subscribe({ topic: stack.topics.deadLetters, fromBeginning: true });
  const seen: { step: string; value: string; source: string; reason: string }[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        seen.push({
          step: message.headers!.dlq_step!.toString(),
          value: message.value!.toString(),
          source: message.headers!.dlq_source!.toString(),
          reason: message.headers!.dlq_reason!.toString(),
        });
        if (seen.length === 4) resolve();
      },
    });
  });
  await consumer.disconnect();
  expect(seen.map((s) => s.step).sort()).toEqual(["sink.trace_events_v1", "sink.trace_events_v1", "upgrader.parse", "upgrader.parse"]);
  expect(seen.filter((s) => s.value === "{not json")).toHaveLength(2);
  expect(seen.every((s) => s.source.startsWith(`${stack.topics.events}[`))).toBe(true);
  expect(seen.find((s) => s.value.includes("sneaky") && s.step === "upgrader.parse")?.reason).toMatch(/surprise/);

  const rs = await stack.clickhouse.client.query({ query: `SELECT id FROM ${stack.clickhouse.table("trace_events_v1")} ORDER BY id`, format: "JSONEachRow" });
  expect((await rs.json<{ id: string }>()).map((r) => r.id)).toEqual([good.id, expect.stringMatching(/^f-/)]);
});
