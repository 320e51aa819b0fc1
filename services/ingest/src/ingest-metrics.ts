import { Counter, type Registry } from "prom-client";

export class IngestMetrics {
  readonly accepted: Counter;
  readonly refused: Counter<"reason">;

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
  }
}
