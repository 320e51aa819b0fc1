import { Coalescer } from "@ledger/batching";
import { billingKey, FAMILY_HEADER, isBillingEvent, RECEIVED_AT_HEADER, traceKey, type LedgerEvent } from "@ledger/events";
import { publish, type KeyedMessage, type KafkaProducer } from "@ledger/kafka";

/**
 * Publishes validated, normalized events to the input topic. Trace events are keyed by
 * (org_id, trace_id) so one trace's events share a partition and keep their order (U3); billing
 * events by their own key (§10.2), with a header that tells consumers they are not trace
 * events. Resolves only after every message was acknowledged by all in-sync replicas (D2).
 *
 * Requests arriving within `lingerMs` of each other share one produce request (like Kafka's
 * linger.ms, which kafkajs lacks): bigger record batches mean fewer, larger consumer batches
 * downstream, where every batch costs a ClickHouse round trip. A request's events stay
 * contiguous and in order inside the shared request.
 */
export class EventPublisher {
  private readonly sends: Coalescer<KeyedMessage, void>;

  constructor(
    producer: KafkaProducer,
    readonly topic: string,
    options: { lingerMs: number; maxMessages: number } = { lingerMs: 0, maxMessages: 1 },
  ) {
    this.sends = new Coalescer((messages) => publish(producer, topic, messages), {
      lingerMs: options.lingerMs,
      maxItems: options.maxMessages,
    });
  }

  /** `values`: the events already serialized (ingest has them for counting bytes). */
  async publish(events: readonly LedgerEvent[], receivedAtMs = Date.now(), values?: readonly string[]): Promise<void> {
    const receivedAt = String(receivedAtMs);
    const messages = events.map((event, i): KeyedMessage => {
      const value = values?.[i] ?? JSON.stringify(event);
      const headers: Record<string, string> = isBillingEvent(event) ? { [RECEIVED_AT_HEADER]: receivedAt, [FAMILY_HEADER]: "billing" } : { [RECEIVED_AT_HEADER]: receivedAt };
      return { key: messageKeyOf(event), value, headers };
    });
    await this.sends.add(messages);
  }
}

/** The key an event is published under (and so its partition): its trace's, or its billing key. */
export function messageKeyOf(event: LedgerEvent): string {
  return isBillingEvent(event) ? billingKey(event) : traceKey(event.org_id, event.trace_id);
}
