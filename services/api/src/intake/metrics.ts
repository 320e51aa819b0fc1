import { Counter, Histogram, type Registry } from "prom-client";

export class ApiMetrics {
  readonly accepted: Counter;
  readonly refused: Counter<"reason">;
  /** Requests the API failed to serve for a reason of its own (each logged with its request id). */
  readonly failed: Counter<"route">;
  private readonly steps: Histogram<"step">;

  constructor(registry: Registry) {
    this.accepted = new Counter({
      name: "ledger_events_accepted_total",
      help: "Input events acknowledged by Kafka and answered 202",
      registers: [registry],
    });
    this.refused = new Counter({
      name: "ledger_events_refused_total",
      help: "Input events refused, by reason (invalid, too_large, timeout, unavailable, backpressure); a body that timed out counts one",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.failed = new Counter({
      name: "ledger_api_failures_total",
      help: "Requests answered 500: a failure of the ledger's own while serving them (logged with the request id), by route",
      labelNames: ["route"],
      registers: [registry],
    });
    this.steps = new Histogram({
      name: "ledger_ingest_step_seconds",
      help: "Time a request spent in each step of the intake path (reading the body, the run index in Redis, limits, backpressure, publishing)",
      labelNames: ["step"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  /** Runs one step of a request, timed whether it succeeds or fails. */
  async timed<T>(step: string, work: () => Promise<T>): Promise<T> {
    const stop = this.steps.startTimer({ step });
    try {
      return await work();
    } finally {
      stop();
    }
  }
}
