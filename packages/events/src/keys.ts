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

/**
 * Kafka header on input-topic messages that are not trace events: "billing" (§10.2) or "marker"
 * (`period-closed`, §10.4); on the rejections topic, "alternative" (an upgrade's alternative
 * trigger, §4.1). Trace events and refused triggers carry none, so their paths stay as they are.
 */
export const FAMILY_HEADER = "ledger_family";
export type MessageFamily = "billing" | "marker" | "alternative";

/**
 * The Kafka key of a billing event: seats by org_id (§10.2, applied in log order); a deployment
 * run by (org_id, run_id), so every event of one run shares a partition and "first in log
 * order" (DR1) is that partition's order.
 */
export function billingKey(e: { type: string; org_id: string; run_id?: string }): string {
  return e.type === "deployment-run" ? `${e.org_id}/run:${e.run_id}` : e.org_id;
}

/** Kafka header on a retention-upgrade: the invoice it is booked on (C2), decided by the upgrader. */
export const BOOKED_PERIOD_HEADER = "ledger_booked_period";
