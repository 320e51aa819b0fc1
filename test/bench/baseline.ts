import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engineConfigFromEnv } from "@ledger/config";
import { connectClickHouse, migrate } from "@ledger/clickhouse";
import { createKafka, createProducer, publish } from "@ledger/kafka";
import { periodKeyOf } from "@ledger/billing";
import { traceKey } from "@ledger/events";
import type { WireEvent } from "../support/workload";

/**
 * The raw baseline: the same messages through plain kafkajs (produce with acks = all, consume
 * with JSON.parse) and a bulk insert of the same rows into the same ClickHouse schema, with no
 * ledger logic. Produce and consume overlap, bounded to the same window the ledger respects.
 */
const PRODUCE_BATCH = 4_000;

export async function measureBaseline(brokers: string[], events: WireEvent[], maxAhead: number): Promise<{ seconds: number; eventsPerS: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), "ledger-baseline-"));
  const ch = await connectClickHouse({ ...engineConfigFromEnv().clickhouse, database: `baseline_${Date.now()}`, dataDir });
  await migrate(ch);
  const kafka = createKafka(brokers, "bench-baseline");
  const topic = `baseline.${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.fetchTopicMetadata({ topics: [topic] });
  const producer = createProducer(kafka);
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${topic}.group`, minBytes: 256 * 1024, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });

  let consumed = 0;
  let inserted = 0;
  let rows: Record<string, unknown>[] = [];
  let inserting = Promise.resolve();
  const flush = () => {
    const chunk = rows;
    rows = [];
    inserting = inserting.then(async () => {
      await ch.client.insert({ table: ch.table("trace_events_v1"), values: chunk, format: "JSONEachRow" });
      inserted += chunk.length;
    });
  };
  const done = new Promise<void>((resolve, reject) => {
    void consumer
      .run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const e = JSON.parse(m.value!.toString()) as WireEvent;
            rows.push({ ...e, occurred_at: e.occurred_at!.slice(0, 23).replace("T", " "), period: periodKeyOf(Date.parse(e.occurred_at!)), received_at: "2024-01-01 00:00:00.000", kafka_partition: batch.partition, kafka_offset: m.offset });
          }
          consumed += batch.messages.length;
          if (rows.length >= 50_000 || consumed === events.length) flush();
          if (consumed === events.length) inserting.then(resolve, reject);
        },
      })
      .catch(reject);
  });

  // 4,000 messages per produce request: about what the ledger's ingest merges concurrent
  // requests into, so neither side gets smaller record batches than the other.
  const start = performance.now();
  for (let i = 0; i < events.length; i += PRODUCE_BATCH) {
    while (i - consumed > maxAhead) await new Promise((r) => setTimeout(r, 5));
    const chunk = events.slice(i, i + PRODUCE_BATCH);
    await publish(producer, topic, chunk.map((e) => ({ key: traceKey(e.org_id!, e.trace_id!), value: JSON.stringify(e) })));
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  await admin.disconnect();
  await ch.close();
  rmSync(dataDir, { recursive: true, force: true });
  if (inserted !== events.length) throw new Error(`baseline inserted ${inserted} of ${events.length} rows`);
  return { seconds, eventsPerS: events.length / seconds };
}
