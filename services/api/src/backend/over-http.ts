import { alertRequestOf, type AlertRuleJson, type CatalogueVersionJson, type CreditsDocument, type InvoiceDocument, type PlanPricesJson, type UsageRow, type UsageThresholdCrossed } from "@ledger/billing";
import type { DailyUsage, InvoiceIndex, MonthOutlook, UsageCosts, RetainedRunPart, UpgradeAttribution, WebhookDeliveryJson, WebhookPage } from "@ledger/clickhouse";
import type { AccountEvent } from "@ledger/events";
import { LedgerRefusal, type ClosedPeriod, type LedgerBackend, type LineSources } from "./contract";

/**
 * The contract over HTTP: a `ledger ingest` replica asks its primary, whose routes answer each
 * call with the platform key. A refusal comes back as the primary's status and sentence; a
 * primary that does not answer is a retriable 503.
 */
export function backendOverHttp(primary: string, platformKey: string): LedgerBackend {
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(new URL(path, primary), {
        method,
        headers: { "x-api-key": platformKey, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new LedgerRefusal(503, `the primary at ${primary} did not answer: ${String((error as Error).cause ?? (error as Error).message)}`, true);
    }
    if (res.ok) return res;
    const text = await res.text();
    let sentence = text;
    try {
      sentence = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: the text is the sentence
    }
    throw new LedgerRefusal(res.status, sentence, res.status === 503 || res.status === 429);
  };
  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> => (await (await call(method, path, body)).json()) as T;
  const query = (params: object) => new URLSearchParams(Object.entries(params).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]]))).toString();
  const org = encodeURIComponent;
  return {
    usage: async (q) => (await json<{ rows: UsageRow[] }>("GET", `/v1/usage?${query(q)}`)).rows,
    dailyUsage: (q) => json<DailyUsage>("GET", `/v1/usage/daily?${query(q)}`),
    upgradeAttribution: (q) => json<UpgradeAttribution>("GET", `/v1/usage/upgrades?${query(q)}`),
    monthOutlook: (q) => json<MonthOutlook>("GET", `/v1/usage/outlook?${query(q)}`),
    usageCosts: (q) => json<UsageCosts>("GET", `/v1/usage/costs?${query(q)}`),
    currentPrices: async (o) => (await json<{ prices: PlanPricesJson }>("GET", `/v1/prices?${query({ org: o })}`)).prices,
    accountEvents: async () => (await json<{ events: AccountEvent[] }>("GET", "/v1/admin/account-events")).events,
    counterMembers: async (seed) => (await json<{ members: string[] }>("POST", "/v1/admin/counter-members", seed)).members,
    retainedRunParts: async (lookup) => (await json<{ parts: RetainedRunPart[] }>("POST", "/v1/admin/retained-run-parts", lookup)).parts,
    analystQuery: async (sql, format, tag) => (await json<{ output: string }>("POST", "/v1/admin/sql", { query: sql, format, tag })).output,
    stopAnalystQuery: async (tag) => {
      await call("POST", "/v1/admin/sql/stop", { tag });
    },
    invoice: (o, period) => json<InvoiceDocument>("GET", `/v1/invoices/${org(o)}/${org(period)}`),
    invoiceIndex: async (o) => {
      const { periods, invoices } = await json<InvoiceIndex>("GET", `/v1/invoices/${org(o)}`);
      return { periods, invoices };
    },
    credits: (o) => json<CreditsDocument>("GET", `/v1/credits/${org(o)}`),
    lineSources: (o, period, n) => json<LineSources>("GET", `/v1/invoices/${org(o)}/${org(period)}/lines/${n}/sources`),
    catalogue: () => json<CatalogueVersionJson[]>("GET", "/v1/admin/catalogue"),
    addCatalogueVersion: (version) => json<CatalogueVersionJson>("POST", "/v1/admin/catalogue", version),
    setAlert: (rule) => json<AlertRuleJson>("PUT", `/v1/admin/orgs/${org(rule.orgId)}/alerts`, alertRequestOf(rule)),
    alerts: (o) => json<{ rules: AlertRuleJson[]; crossings: UsageThresholdCrossed[] }>("GET", `/v1/admin/orgs/${org(o)}/alerts`),
    exportPeriod: async (period, dataset, format) => new Uint8Array(await (await call("GET", `/v1/admin/export/${org(period)}?${query({ dataset, format: format === "Parquet" ? "parquet" : "csv" })}`)).arrayBuffer()),
    seatHolders: async (o) => (await json<{ users: string[] }>("GET", `/v1/admin/orgs/${org(o)}/seats`)).users,
    webhooks: (q) => json<WebhookPage>("GET", `/v1/admin/webhooks?${query(q)}`),
    resendWebhook: (invoiceId) => json<WebhookDeliveryJson>("POST", "/v1/admin/webhooks/resend", { invoice_id: invoiceId }),
    closePeriod: (period, wait) => json<ClosedPeriod>("POST", `/v1/admin/periods/${org(period)}/close`, { wait }),
    ready: async () => {
      await call("GET", "/readyz");
    },
    // The replica's own registry is its metrics; the primary's are scraped from the primary.
    metrics: async () => "",
  };
}
