import { ACCOUNT_EVENTS, INGEST_EVENTS, validateBatchOf } from "@ledger/events";
import { invoiceDocument, type InvoiceLineJson } from "@ledger/billing";
import type { LedgerStack } from "@ledger/stack";
import { uniqueName } from "./engines";
import { waitFor } from "./wait";

let n = 0;

/** Billing and account events with the spec's field names; ids are unique unless given. */
export const bill = {
  plus: (org: string, at = "2024-01-01T00:00:00Z", more: Record<string, unknown> = {}) => ({ id: `cfg-${++n}`, type: "org-configured", occurred_at: at, org_id: org, plan: "plus", payment_method: true, ...more }),
  seatAdded: (org: string, user: string, at: string) => ({ id: `sa-${++n}`, type: "seat-added", occurred_at: at, org_id: org, user_id: user }),
  seatRemoved: (org: string, user: string, at: string) => ({ id: `sr-${++n}`, type: "seat-removed", occurred_at: at, org_id: org, user_id: user }),
  run: (org: string, run: string, at: string, id = `dr-${++n}`) => ({ id, type: "deployment-run", occurred_at: at, org_id: org, workspace_id: "prod", deployment_id: "d-1", run_id: run }),
};

/** Publishes account events, then ledger events in order, as ingest would (validated first). */
export async function publishLog(stack: LedgerStack, accounts: readonly object[], events: readonly object[], chunk = 2_000): Promise<void> {
  if (accounts.length > 0) await stack.publishAccounts(validateBatchOf(ACCOUNT_EVENTS, accounts));
  const valid = validateBatchOf(INGEST_EVENTS, events);
  for (let i = 0; i < valid.length; i += chunk) await stack.publisher.publish(valid.slice(i, i + chunk));
}

/** Lines without the invoice's head fields, for compact expectations. */
export async function invoiceLines(stack: LedgerStack, org: string, period: string): Promise<{ status: string; total: string; lines: Partial<InvoiceLineJson>[] }> {
  const doc = invoiceDocument(await stack.invoicer.reads.invoice(org, period));
  return {
    status: doc.status,
    total: doc.total_usd,
    lines: doc.lines.map(({ org_id: _o, period: _p, status: _s, ...rest }) => rest),
  };
}

/** Everything on the invoices topic (§10.6) — or another the ledger writes — so far, in order, with its key. */
export async function invoiceEvents(s: LedgerStack, topic = s.topics.invoices): Promise<{ key: string; event: Record<string, any> }[]> {
  const consumer = s.kafka.consumer({ groupId: uniqueName("invoices-reader") });
  await consumer.connect();
  await consumer.subscribe({ topic: topic, fromBeginning: true });
  const seen: { key: string; event: Record<string, any> }[] = [];
  // The topic's partitions can be missing from the first metadata answer on a busy broker: ask again.
  let ends: Awaited<ReturnType<typeof s.admin.fetchTopicOffsets>> = [];
  await waitFor("the invoices topic's offsets", async () => {
    ends = await s.admin.fetchTopicOffsets(topic).catch(() => []);
    return ends.length > 0;
  }, 30_000, 100);
  const total = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  await consumer.run({ eachMessage: async ({ message }) => void seen.push({ key: message.key!.toString(), event: JSON.parse(message.value!.toString()) }) });
  await waitFor(`${total} invoice events read`, () => seen.length >= total, 30_000, 50);
  await consumer.disconnect();
  return seen;
}
