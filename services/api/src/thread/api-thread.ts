import { MessageChannel, Worker } from "node:worker_threads";
import type { KafkaConfig } from "@ledger/config";
import type { LagWatch, LedgerTopics } from "@ledger/kafka";
import type { LedgerBackend } from "../backend/contract";
import { serveBackend } from "../backend/over-port";
import type { ApiConfig } from "../config";

/** What the API thread needs to run on its own: where Kafka and Redis are, what to watch. */
export interface ApiThreadData {
  brokers: string[];
  kafka: KafkaConfig;
  topics: LedgerTopics;
  watches: LagWatch[];
  config: ApiConfig;
  platformKey: string;
  redisUrl: string;
}

/** The thread's own messages to the thread that started it (the backend has a channel of its own). */
export type ThreadMessage = { type: "listening"; url: string } | { type: "stopped" } | { type: "fatal"; message: string };

/**
 * Runs the API (HTTP parsing, validation, Kafka produce) on a worker thread of the same process,
 * so that its work and the consumers' use both cores. What it asks of ClickHouse and the
 * consumers goes over a channel of its own with the backend contract (`serveBackend`).
 */
export class ApiThread {
  private constructor(
    private readonly worker: Worker,
    readonly url: string,
  ) {}

  static async start(data: ApiThreadData, backend: LedgerBackend, onFatal: (error: Error) => void): Promise<ApiThread> {
    const channel = new MessageChannel();
    serveBackend(channel.port1, backend);
    // A larger young generation than the default: request bodies, parsed runs and produce buffers
    // are short-lived.
    const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), {
      workerData: { ...data, backendPort: channel.port2 },
      transferList: [channel.port2],
      resourceLimits: { maxYoungGenerationSizeMb: 96 },
    });
    const url = await new Promise<string>((resolve, reject) => {
      worker.on("message", (message: ThreadMessage) => {
        if (message.type === "listening") resolve(message.url);
        else if (message.type === "fatal") {
          const error = new Error(`API thread: ${message.message}`);
          reject(error);
          onFatal(error);
        }
      });
      worker.once("error", (error) => {
        reject(error);
        onFatal(error);
      });
    });
    worker.once("exit", () => channel.port1.close());
    return new ApiThread(worker, url);
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
