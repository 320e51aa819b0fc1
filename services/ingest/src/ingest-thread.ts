import type { InvoiceHost } from "./invoice-routes";
import { Worker } from "node:worker_threads";
import type { UsageRow } from "@ledger/billing";
import type { KafkaConfig } from "@ledger/config";
import type { AccountEvent } from "@ledger/events";
import type { SeedQuery } from "@ledger/limits";
import type { DailyUsage, RetainedRunPart, RunLookup } from "@ledger/clickhouse";
import type { LagWatch, LedgerTopics } from "@ledger/kafka";
import type { IngestConfig } from "./config";

/** What the ingest thread needs to run on its own: where Kafka is and what to watch. */
export interface IngestThreadData {
  brokers: string[];
  kafka: KafkaConfig;
  topics: LedgerTopics;
  watches: LagWatch[];
  config: IngestConfig;
  platformKey: string;
  redisUrl: string;
}

/** Calls the ingest thread makes back into the thread that owns ClickHouse and the consumers. */
export interface IngestThreadHost {
  usage: (query: Record<string, unknown>) => Promise<UsageRow[]>;
  dailyUsage: (query: Record<string, unknown>) => Promise<DailyUsage>;
  ready: () => Promise<void>;
  metrics: () => Promise<string>;
  accountEvents: () => Promise<AccountEvent[]>;
  counterMembers: (seed: SeedQuery) => Promise<string[]>;
  retainedRunParts: (lookup: RunLookup) => Promise<RetainedRunPart[]>;
  analystQuery: (query: string, format: string) => Promise<string>;
  invoice: InvoiceHost["invoice"];
  periods: InvoiceHost["periods"];
  closePeriod: InvoiceHost["closePeriod"];
  lineSources: InvoiceHost["lineSources"];
  catalogue: InvoiceHost["catalogue"];
  exportPeriod: InvoiceHost["exportPeriod"];
  addCatalogueVersion: InvoiceHost["addCatalogueVersion"];
  onFatal: (error: Error) => void;
}

export type HostCall = { id: number; method: "usage" | "dailyUsage" | "periods" | "ready" | "metrics" | "accountEvents" | "counterMembers" | "retainedRunParts" | "analystQuery" | "invoice" | "closePeriod" | "lineSources" | "catalogue" | "addCatalogueVersion" | "exportPeriod"; args: unknown[] };
export type ThreadMessage =
  | { type: "listening"; url: string }
  | { type: "stopped" }
  | { type: "fatal"; message: string }
  | ({ type: "call" } & HostCall);

/**
 * Runs the ingest API (HTTP parsing, validation, Kafka produce) on a worker thread of the same
 * process, so that work and the consumers' work use both cores. ClickHouse stays on the main
 * thread (one chDB engine per process); usage, readiness, metrics, the accounts and the limit
 * counters' sources are asked for over messages.
 */
export class IngestThread {
  private constructor(
    private readonly worker: Worker,
    readonly url: string,
  ) {}

  static async start(data: IngestThreadData, host: IngestThreadHost): Promise<IngestThread> {
    // A larger young generation than the default: request bodies, parsed runs and produce buffers
    // are short-lived, and scavenges were ~15 % of the thread's time under `pnpm bench --langsmith`.
    const worker = new Worker(new URL("./ingest-worker-entry.mjs", import.meta.url), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 96 } });
    const url = await new Promise<string>((resolve, reject) => {
      worker.on("message", async (message: ThreadMessage) => {
        if (message.type === "listening") resolve(message.url);
        else if (message.type === "fatal") {
          const error = new Error(`ingest thread: ${message.message}`);
          reject(error);
          host.onFatal(error);
        } else if (message.type === "call") {
          try {
            const value = await (host[message.method] as (...a: unknown[]) => Promise<unknown>)(...message.args);
            worker.postMessage({ id: message.id, ok: true, value });
          } catch (error) {
            worker.postMessage({ id: message.id, ok: false, error: { name: (error as Error).name, message: (error as Error).message } });
          }
        }
      });
      worker.once("error", (error) => {
        reject(error);
        host.onFatal(error);
      });
    });
    return new IngestThread(worker, url);
  }

  /** Stops intake: closes the HTTP server, flushes and closes the producer, ends the thread. */
  async stop(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.worker.on("message", (m: ThreadMessage) => m.type === "stopped" && resolve());
      this.worker.once("exit", () => resolve());
    });
    this.worker.postMessage({ type: "stop" });
    await stopped;
    await this.worker.terminate();
  }
}
