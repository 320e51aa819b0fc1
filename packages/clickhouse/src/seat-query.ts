import { z } from "zod";
import type { SeatCharge } from "@ledger/billing";
import { dateTime64, type LedgerClickHouse } from "./client";

/** A seat charge with the invoice that holds it (SA1, SA2), as `seat_charges_v1` keeps it. */
export interface HeldSeatCharge {
  orgId: string;
  month: string;
  userId: string;
  kind: SeatCharge["kind"];
  atMs: number;
  invoiceId: string;
  /** A seat invoice's day; '' for a monthly invoice. */
  day: string;
}

const heldRow = z.object({ org_id: z.string(), month: z.string(), user_id: z.string(), kind: z.enum(["seats", "seat_proration"]), at_ms: z.coerce.number(), invoice_id: z.string(), day: z.string() });

const queryId = (name: string) => `invoices.${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;

/** Which invoice holds each seat charge: the first assignment of each (organization, month, user). */
export async function heldSeatCharges(ch: LedgerClickHouse, org?: string): Promise<HeldSeatCharge[]> {
  const rs = await ch.client.query({
    query: `SELECT org_id, month, user_id, argMin(kind, assigned_at) AS kind, toUnixTimestamp64Milli(argMin(at, assigned_at)) AS at_ms,
                   argMin(invoice_id, assigned_at) AS invoice_id, argMin(day, assigned_at) AS day
            FROM ${ch.table("seat_charges_v1")} ${org === undefined ? "" : "WHERE org_id = {org:String}"}
            GROUP BY org_id, month, user_id ORDER BY org_id, month, user_id`,
    query_params: { org: org ?? "" },
    format: "JSONEachRow",
    query_id: queryId("seat_charges"),
  });
  return z
    .array(heldRow)
    .parse(await rs.json())
    .map((r) => ({ orgId: r.org_id, month: r.month, userId: r.user_id, kind: r.kind, atMs: r.at_ms, invoiceId: r.invoice_id, day: r.day }));
}

export async function assignSeatCharges(ch: LedgerClickHouse, charges: readonly HeldSeatCharge[], nowMs: number): Promise<void> {
  if (charges.length === 0) return;
  await ch.client.insert({
    table: ch.table("seat_charges_v1"),
    values: charges.map((c) => ({ org_id: c.orgId, month: c.month, user_id: c.userId, kind: c.kind, at: dateTime64(c.atMs), invoice_id: c.invoiceId, day: c.day, assigned_at: dateTime64(nowMs) })),
    format: "JSONEachRow",
  });
}

/**
 * The seat invoices issued (SA2): stored like monthly invoices (lines, credits, totals), under
 * their day (`YYYY-MM-DD`) in place of a period; issued once their totals are stored.
 */
export async function seatInvoiceDays(ch: LedgerClickHouse, org?: string): Promise<{ orgId: string; day: string; issuedAtMs: number }[]> {
  const rs = await ch.client.query({
    query: `SELECT org_id, period AS day, toUnixTimestamp64Milli(min(issued_at)) AS issued_ms FROM ${ch.table("invoice_totals_v1")}
            WHERE length(period) = 10 ${org === undefined ? "" : "AND org_id = {org:String}"}
            GROUP BY org_id, period ORDER BY org_id, period`,
    query_params: { org: org ?? "" },
    format: "JSONEachRow",
    query_id: queryId("seat_invoice_days"),
  });
  return z
    .array(z.object({ org_id: z.string(), day: z.string(), issued_ms: z.coerce.number() }))
    .parse(await rs.json())
    .map((r) => ({ orgId: r.org_id, day: r.day, issuedAtMs: r.issued_ms }));
}

/** SA3: the first period billed with seats in advance (null: every period). */
export async function seatBillingFrom(ch: LedgerClickHouse): Promise<string | null> {
  const rs = await ch.client.query({ query: `SELECT min(from_period) AS p, count() AS n FROM ${ch.table("seat_billing_v1")}`, format: "JSONEachRow" });
  const [row] = z.array(z.object({ p: z.string(), n: z.coerce.number() })).parse(await rs.json());
  return row && row.n > 0 ? row.p : null;
}
