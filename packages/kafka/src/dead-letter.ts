import type { KafkaMessage } from "kafkajs";
import type { KeyedMessage } from "./connect";

/**
 * A copy of a message a consumer could not use: its key, value and headers, plus why, where
 * and when. Publishing it is part of the batch's effects, so a failure to dead-letter fails the
 * batch instead of losing the message.
 */
export function deadLetterOf(
  message: KafkaMessage,
  source: { topic: string; partition: number },
  step: string,
  reason: string,
): KeyedMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String).join(",") : String(v);
  }
  return {
    key: message.key?.toString() ?? "",
    value: message.value?.toString() ?? "",
    headers: {
      ...headers,
      dlq_reason: reason.slice(0, 2_000),
      dlq_step: step,
      dlq_at: new Date().toISOString(),
      dlq_source: `${source.topic}[${source.partition}]@${message.offset}`,
    },
  };
}

export function headerString(message: KafkaMessage, name: string): string | undefined {
  const v = message.headers?.[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? String(v[0]) : v.toString();
}
