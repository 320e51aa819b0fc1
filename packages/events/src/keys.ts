/**
 * The Kafka key of every event of a trace (U3): org and trace joined by "/", a character the id
 * alphabet excludes, so two orgs sharing a trace id never share a key.
 */
export function traceKey(orgId: string, traceId: string): string {
  return `${orgId}/${traceId}`;
}

/** Kafka header: when ingest received the event (epoch ms), for end-to-end latency. */
export const RECEIVED_AT_HEADER = "received_at";

/** The Kafka key of account events (§7): one organization's changes share a partition, in order. */
export const accountKey = (orgId: string) => orgId;
