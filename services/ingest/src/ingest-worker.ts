import { parentPort, workerData } from "node:worker_threads";
import { Registry } from "prom-client";
import type { UsageRow } from "@ledger/billing";
import type { AccountEvent } from "@ledger/events";
import { createKafka, createProducer, LagGovernor, runLagBound } from "@ledger/kafka";
import type { SeedQuery } from "@ledger/limits";
import type { DailyUsage, RetainedRunPart, RunLookup } from "@ledger/clickhouse";
import type { HostCall, IngestThreadData } from "./ingest-thread";
import { IngestRuntime } from "./ingest-runtime";

// The worker side of IngestThread: its own producer and lag governor, the same ingest replica.
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
  const producer = createProducer(kafka);
  // Replies come through the same port: listen before anything asks the host.
  let runtime: IngestRuntime | undefined;
  port.on("message", async (message: { type?: string; id?: number; ok?: boolean; value?: unknown; error?: { name: string; message: string } }) => {
    if (message.type === "stop") {
      await runtime?.stop();
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
  await admin.connect();
  await producer.connect();
  runtime = await IngestRuntime.start({
    config: data.config,
    platformKey: data.platformKey,
    redisUrl: data.redisUrl,
    counterPrefix: data.kafka.topicPrefix,
    producer,
    topics: data.topics,
    registry: new Registry(),
    governor: new LagGovernor(admin, data.watches, data.kafka.maxLagPerPartition, { [data.topics.runs]: runLagBound(data.kafka.maxRunLagBytesPerPartition, data.kafka.maxLagPerPartition) }),
    host: {
      usage: (query) => call<UsageRow[]>("usage", query),
      dailyUsage: (query) => call<DailyUsage>("dailyUsage", query),
      ready: () => call<void>("ready"),
      moreMetrics: () => call<string>("metrics"),
      accountEvents: () => call<AccountEvent[]>("accountEvents"),
      counterMembers: (seed: SeedQuery) => call<string[]>("counterMembers", seed),
      retainedRunParts: (lookup: RunLookup) => call<RetainedRunPart[]>("retainedRunParts", lookup),
      analystQuery: (query: string, format: string) => call<string>("analystQuery", query, format),
      invoices: {
        invoice: (org: string, period: string) => call("invoice", org, period),
        periods: (org: string) => call("periods", org),
        closePeriod: (period: string, wait: boolean) => call("closePeriod", period, wait),
        lineSources: (org: string, period: string, n: number) => call("lineSources", org, period, n),
        catalogue: () => call("catalogue"),
        exportPeriod: (period: string, dataset: string, format: string) => call("exportPeriod", period, dataset, format),
        addCatalogueVersion: (version: unknown) => call("addCatalogueVersion", version),
      },
    },
    log: (line) => process.stderr.write(`ledger: ${line}\n`),
  });
  port.postMessage({ type: "listening", url: runtime.url });
}

main().catch((error: Error) => port.postMessage({ type: "fatal", message: error.message }));
