import type { Producer } from "kafkajs";
import { RECEIVED_AT_HEADER, traceKey, type InputEvent } from "@ledger/events";
import { publish, type KeyedMessage } from "@ledger/kafka";


/**
 * Publishes validated, normalized events to the trace-events topic, keyed by (org_id, trace_id)
 * so one trace's events share a partition and keep their order (U3). Resolves only after every
 * message was acknowledged by all in-sync replicas (D2).
 */
export class EventPublisher {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  async publish(events: readonly InputEvent[], receivedAtMs = Date.now()): Promise<void> {
    const receivedAt = String(receivedAtMs);
    const messages: KeyedMessage[] = events.map((event) => ({
      key: traceKey(event.org_id, event.trace_id),
      value: JSON.stringify(event),
      headers: { [RECEIVED_AT_HEADER]: receivedAt },
    }));
    await publish(this.producer, this.topic, messages);
  }
}
