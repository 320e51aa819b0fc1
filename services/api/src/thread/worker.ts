import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { Registry } from "prom-client";
import { createKafka, createProducer, LagGovernor, runLagBound } from "@ledger/kafka";
import { backendOverPort } from "../backend/over-port";
import { ApiRuntime } from "../runtime";
import type { ApiThreadData, ThreadMessage } from "./api-thread";

// The worker side of ApiThread: its own producer and lag governor, the same API replica, the
// backend across its channel.
const data = workerData as ApiThreadData & { backendPort: MessagePort };
const port = parentPort!;
const say = (message: ThreadMessage) => port.postMessage(message);

async function main(): Promise<void> {
  const kafka = createKafka(data.brokers, `${data.kafka.clientId}-api`);
  const admin = kafka.admin();
  const producer = createProducer(kafka);
  let runtime: ApiRuntime | undefined;
  port.on("message", async (message: { type?: string }) => {
    if (message.type !== "stop") return;
    await runtime?.stop();
    await producer.disconnect();
    await admin.disconnect();
    data.backendPort.close();
    say({ type: "stopped" });
  });
  await admin.connect();
  await producer.connect();
  runtime = await ApiRuntime.start({
    config: data.config,
    platformKey: data.platformKey,
    redisUrl: data.redisUrl,
    counterPrefix: data.kafka.topicPrefix,
    producer,
    topics: data.topics,
    registry: new Registry(),
    backend: backendOverPort(data.backendPort),
    governor: new LagGovernor(admin, data.watches, data.kafka.maxLagPerPartition, { [data.topics.runs]: runLagBound(data.kafka.maxRunLagBytesPerPartition, data.kafka.maxLagPerPartition) }),
    log: (line) => process.stderr.write(`ledger: ${line}\n`),
  });
  say({ type: "listening", url: runtime.url });
}

main().catch((error: Error) => say({ type: "fatal", message: error.message }));
