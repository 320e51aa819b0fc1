import { parentPort, workerData } from "node:worker_threads";
import { Registry } from "prom-client";
import type { UsageRow } from "@ledger/billing";
import { createKafka, createProducer, LagGovernor } from "@ledger/kafka";
import { EventPublisher } from "./event-publisher";
import type { HostCall, IngestThreadData } from "./ingest-thread";
import { buildIngestServer } from "./server";

// The worker side of IngestThread: its own producer and lag governor, the same HTTP server.
const data = workerData as IngestThreadData;
const port = parentPort!;
let nextId = 0;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

function call<T>(method: HostCall["method"], ...args: unknown[]): Promise<T> {
  const id = ++nextId;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    port.postMessage({ type: "call", id, method, args });
  });
}

async function main(): Promise<void> {
  const kafka = createKafka(data.brokers, `${data.kafka.clientId}-ingest`);
  const admin = kafka.admin();
  await admin.connect();
  const producer = createProducer(kafka);
  await producer.connect();
  const server = buildIngestServer({
    config: data.config,
    publisher: new EventPublisher(producer, data.topics.events, { lingerMs: data.config.lingerMs, maxMessages: 20_000 }),
    registry: new Registry(),
    governor: new LagGovernor(admin, data.watches, data.kafka.maxLagPerPartition),
    usage: (query) => call<UsageRow[]>("usage", query),
    ready: () => call<void>("ready"),
    moreMetrics: () => call<string>("metrics"),
  });
  const url = await server.listen({ host: data.config.host, port: data.config.port });
  port.on("message", async (message: { type?: string; id?: number; ok?: boolean; value?: unknown; error?: { name: string; message: string } }) => {
    if (message.type === "stop") {
      await server.close();
      await producer.disconnect();
      await admin.disconnect();
      port.postMessage({ type: "stopped" });
      return;
    }
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(Object.assign(new Error(message.error!.message), { name: message.error!.name }));
  });
  port.postMessage({ type: "listening", url });
}

main().catch((error: Error) => port.postMessage({ type: "fatal", message: error.message }));
