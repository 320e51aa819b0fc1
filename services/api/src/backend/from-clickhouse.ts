import { alertRuleJson, invoiceJson, type UsageThresholdCrossed } from "@ledger/billing";
import { alertRules, sentAlerts, analystQuery, counterMembers, InvoiceReads, InvoiceRequestError, requeueWebhook, seatHolders, webhookCursorOf, webhookDeliveryJson, webhookPage, loadAccountEvents, queryDailyUsage, queryUsage, retainedRunParts, stopAnalystQueries, type LedgerClickHouse } from "@ledger/clickhouse";
import type { LedgerBackend } from "./contract";

/** The contract's reads: what ClickHouse alone answers, from any process that can reach it. */
export type ClickHouseReads = Omit<LedgerBackend, "addCatalogueVersion" | "setAlert" | "closePeriod" | "ready" | "metrics">;

/**
 * The contract's reads answered from a ClickHouse connection: the one implementation, used by
 * `ledger serve`'s backend and by a replica that reaches a ClickHouse server itself. What remains
 * of the contract (closing, a catalogue version, readiness, the consumers' metrics) belongs to
 * the process that runs the consumers and the invoicer. `ledger serve`'s API thread does not read
 * chDB itself: see "Processes and threads" in docs/operations.md.
 */
export function readsFromClickHouse(ch: LedgerClickHouse, now: () => number): ClickHouseReads {
  const invoices = new InvoiceReads(ch, now);
  return {
    usage: (query) => queryUsage(ch, query),
    dailyUsage: (query) => queryDailyUsage(ch, query, now()),
    upgradeAttribution: (query) => invoices.upgradeAttribution(query),
    monthOutlook: (query) => invoices.outlook(query),
    usageCosts: (query) => invoices.costs(query),
    currentPrices: (org) => invoices.currentPrices(org),
    accountEvents: () => loadAccountEvents(ch),
    counterMembers: (seed) => counterMembers(ch, seed),
    retainedRunParts: (lookup) => retainedRunParts(ch, lookup),
    analystQuery: (query, format, tag) => analystQuery(ch, query, format, tag),
    stopAnalystQuery: (tag) => stopAnalystQueries(ch, tag),
    invoice: (org, period) => invoices.document(org, period),
    invoiceIndex: (org) => invoices.index(org),
    credits: (org) => invoices.credits(org),
    lineSources: async (org, period, n) => {
      const { line, sources } = await invoices.lineSources(org, period, n);
      const [json] = invoiceJson({ orgId: org, period, status: "open", lines: [line], totalMicros: 0n, credits: [] });
      const { status: _s, ...lineJson } = json!;
      return { line: lineJson, sources };
    },
    catalogue: () => invoices.catalogue(),
    alerts: async (org) => {
      const [rules, sent] = await Promise.all([alertRules(ch, org), sentAlerts(ch, org)]);
      return { rules: rules.map(alertRuleJson), crossings: sent.map((s) => JSON.parse(s.body) as UsageThresholdCrossed) };
    },
    exportPeriod: async (period, dataset, format) => new Uint8Array(await invoices.exportPeriod(period, dataset, format)),
    seatHolders: (org) => seatHolders(ch, org),
    webhooks: async (q) => {
      const before = q.before === undefined ? undefined : webhookCursorOf(q.before);
      if (before === null) throw new InvoiceRequestError(400, "before must be the next of an earlier page of GET /v1/admin/webhooks");
      return webhookPage(ch, { ...(q.invoice_id !== undefined ? { invoiceId: q.invoice_id } : {}), limit: q.limit, ...(before ? { before } : {}) });
    },
    resendWebhook: async (invoiceId) => {
      const state = await requeueWebhook(ch, invoiceId, now());
      if (!state) throw new InvoiceRequestError(404, `invoice ${invoiceId} was never queued for the webhook (ledger webhooks list shows those that were)`);
      return webhookDeliveryJson(state);
    },
  };
}
