import { z } from "zod";
import { ACCOUNT_EVENTS, validateOf, type AccountEvent } from "@ledger/events";
import type { LedgerClickHouse } from "./client";

/** The wire fields of each account event type, as columns of `account_events_v1`. */
const FIELDS: Record<AccountEvent["type"], string[]> = {
  "org-configured": ["plan", "payment_method", "events_per_hour", "bytes_per_hour", "seat_price_usd", "free_base_traces", "base_trace_price_usd", "upgrade_price_usd", "deployment_run_price_usd", "commitment_usd", "term_start", "kind", "created_at"],
  "workspace-configured": ["workspace_id", "all_traces_limit", "extended_traces_limit", "default_retention"],
  "project-configured": ["workspace_id", "project_id", "default_retention"],
  "api-key-created": ["workspace_id", "key_id", "key_hash", "kind", "user_id"],
  "api-key-revoked": ["key_id"],
  "credit-granted": ["grant_id", "amount_usd", "first_period", "last_period", "reason"],
  "credit-voided": ["grant_id"],
};
/** Fields whose null means "none" and must be kept; elsewhere null or '' means "not given". */
const NULL_MEANS_NONE = new Set(["all_traces_limit", "extended_traces_limit"]);
const NUMERIC = new Set(["events_per_hour", "bytes_per_hour", "free_base_traces", "all_traces_limit", "extended_traces_limit"]);

const row = z.record(z.string(), z.unknown());

/**
 * Named query `accounts.events`: every account event in log order, read back into wire events
 * (validated again: a row that no longer validates is reported, not folded in silently).
 */
export async function loadAccountEvents(ch: LedgerClickHouse): Promise<AccountEvent[]> {
  const rs = await ch.client.query({
    query: `SELECT * EXCEPT (occurred_at, received_at, ingested_at),
                   concat(replaceOne(toString(occurred_at), ' ', 'T'), 'Z') AS occurred_at
            FROM ${ch.table("account_events_v1")} FINAL
            ORDER BY kafka_partition, kafka_offset`,
    format: "JSONEachRow",
    query_id: `accounts.events.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const events: AccountEvent[] = [];
  for (const r of z.array(row).parse(await rs.json())) {
    const type = r.type as AccountEvent["type"];
    const wire: Record<string, unknown> = { id: r.id, type, occurred_at: r.occurred_at, org_id: r.org_id };
    for (const f of FIELDS[type] ?? []) {
      const v = r[f];
      if (v === null && NULL_MEANS_NONE.has(f)) wire[f] = null;
      else if (v !== null && v !== "" && v !== undefined) wire[f] = NUMERIC.has(f) ? Number(v) : v;
    }
    const parsed = validateOf(ACCOUNT_EVENTS, wire);
    if (!parsed.ok) throw new Error(`account_events_v1 row ${String(r.org_id)}/${String(r.id)} is not a valid account event: ${JSON.stringify(parsed.problems)}`);
    events.push(parsed.event);
  }
  return events;
}
