import type { AlertRule, AlertRuleJson, CatalogueVersionJson, CreditsDocument, InvoiceDocument, InvoiceLineJson, PlanPricesJson, UsageRow, UsageThresholdCrossed } from "@ledger/billing";
import type { DailyUsage, DailyUsageParams, ExportDataset, ExportFormat, InvoiceIndex, MonthOutlook, MonthOutlookParams, RetainedRunPart, UsageCosts, UsageCostsParams, RunLookup, UpgradeAttribution, UpgradeAttributionParams, UsageParams, WebhookDeliveryJson, WebhookPage } from "@ledger/clickhouse";
import type { AccountEvent, CatalogueVersionInput } from "@ledger/events";
import type { SeedQuery } from "@ledger/limits";

/** `GET /v1/admin/webhooks`' parameters: one invoice's, or a page of `limit` before the cursor `before` (a page's `next`). */
export interface WebhookListQuery {
  invoice_id?: string;
  limit: number;
  before?: string;
}

/**
 * What the API asks of the process that holds ClickHouse, the consumers and the invoicer: every
 * read and write it cannot make with its own Kafka producer and Redis. Defined here once; one
 * implementation in process (`LedgerStack.backend()`), and two transports that carry it
 * unchanged: a worker thread's message port (`thread/`) and HTTP to a primary (`over-http.ts`,
 * for `ledger ingest` replicas).
 *
 * A refusal crosses it as data: an error with an HTTP `status`, its sentence as `message`, and
 * `retriable` (see `Refusal`). The API answers it with that status and sentence; anything else
 * thrown is a failure of the ledger's own (500).
 */
export interface LedgerBackend {
  /** `GET /v1/usage`: rows per (org[, workspace], period); parameters already checked. */
  usage(query: UsageParams): Promise<UsageRow[]>;
  /** `GET /v1/usage/upgrades`: a period's extended upgrades by cause, rule, queue, feedback key, project or workspace (§4.1). */
  upgradeAttribution(query: UpgradeAttributionParams): Promise<UpgradeAttribution>;
  /** `GET /v1/usage/outlook`: a period so far, its free allotment and a month-end forecast (§4.2). */
  monthOutlook(query: MonthOutlookParams): Promise<MonthOutlook>;
  /** `GET /v1/usage/costs`: a period's usage cost per workspace or project (§4.3). */
  usageCosts(query: UsageCostsParams): Promise<UsageCosts>;
  /** `GET /v1/prices`: an organization's prices of the current period (§10.1). */
  currentPrices(org: string): Promise<PlanPricesJson>;
  /** `GET /v1/usage/daily`: the page's chart. */
  dailyUsage(query: DailyUsageParams): Promise<DailyUsage>;
  /** Every account event, in log order (the account cache folds them). */
  accountEvents(): Promise<AccountEvent[]>;
  /** A limit counter's members as ClickHouse knows them (Redis started empty, or is away). */
  counterMembers(seed: SeedQuery): Promise<string[]>;
  /** `GET /runs/{id}`: the retained parts of a run (§9). */
  retainedRunParts(lookup: RunLookup): Promise<RetainedRunPart[]>;
  /**
   * `POST /v1/admin/sql`: an analyst's read-only query, bounded in time, memory and result size,
   * in a ClickHouse output format. `tag` (8–32 of a-z0-9) names it for `stopAnalystQuery`.
   */
  analystQuery(query: string, format: string, tag: string): Promise<string>;
  /** Stops the analyst's query tagged `tag` if it still runs (its client went away). */
  stopAnalystQuery(tag: string): Promise<void>;
  /** An organization's invoice of a period: final once closed, else a preview (C5). */
  invoice(org: string, period: string): Promise<InvoiceDocument>;
  /**
   * The periods an organization has billing rows in and the current one, latest first; and every
   * invoice (monthly, annual) with its kind, issue time, status and amount due.
   */
  invoiceIndex(org: string): Promise<InvoiceIndex>;
  /** `GET /v1/credits/{org}`: each credit grant's balance after the final invoices (CR5). */
  credits(org: string): Promise<CreditsDocument>;
  /** Line n (1-based) of an invoice and the ledger rows behind it. */
  lineSources(org: string, period: string, n: number): Promise<LineSources>;
  catalogue(): Promise<CatalogueVersionJson[]>;
  addCatalogueVersion(version: CatalogueVersionInput): Promise<CatalogueVersionJson>;
  /** `PUT /v1/admin/orgs/{org}/alerts`: sets an alert rule (§6.6). */
  setAlert(rule: AlertRule): Promise<AlertRuleJson>;
  /** `GET /v1/admin/orgs/{org}/alerts`: an organization's alert rules and the crossings announced. */
  alerts(org: string): Promise<{ rules: AlertRuleJson[]; crossings: UsageThresholdCrossed[] }>;
  /** A closed (final) period's invoice lines or usage, as ClickHouse writes the format. */
  exportPeriod(period: string, dataset: ExportDataset, format: ExportFormat): Promise<Uint8Array>;
  /** G2: the users with a seat in an organization now, as ClickHouse knows them. */
  seatHolders(org: string): Promise<string[]>;
  /** `ledger webhooks list`: a page of invoice deliveries to the webhook, newest first (one invoice's with `invoice_id`); 400 for a `before` no page gave. */
  webhooks(query: WebhookListQuery): Promise<WebhookPage>;
  /** `ledger webhooks resend`: a new delivery round of an invoice's first body (404 if never queued). */
  resendWebhook(invoiceId: string): Promise<WebhookDeliveryJson>;
  /** Closes the period (and every earlier one); with `wait`, answers once its invoices are final. */
  closePeriod(period: string, wait: boolean): Promise<ClosedPeriod>;
  /** Resolves when Kafka, ClickHouse and the consumers are usable (`/readyz`). */
  ready(): Promise<void>;
  /** Prometheus text of what the API's own registry does not hold (the consumers'). */
  metrics(): Promise<string>;
}

export interface OrgPeriod {
  period: string;
  status: "open" | "closed";
}

export interface ClosedPeriod {
  period: string;
  partitions: number;
  /** Whether its invoices were final when answered (asked with `wait`). */
  final: boolean;
}

/** An invoice line (without its status) and the ledger rows behind it. */
export interface LineSources {
  line: Omit<InvoiceLineJson, "status">;
  sources: Record<string, unknown>[];
}

/** The methods of the contract, for the transports that carry calls by name. */
export const BACKEND_METHODS = [
  "usage",
  "dailyUsage",
  "upgradeAttribution",
  "monthOutlook",
  "usageCosts",
  "currentPrices",
  "accountEvents",
  "counterMembers",
  "retainedRunParts",
  "analystQuery",
  "stopAnalystQuery",
  "invoice",
  "invoiceIndex",
  "credits",
  "lineSources",
  "catalogue",
  "addCatalogueVersion",
  "setAlert",
  "alerts",
  "exportPeriod",
  "webhooks",
  "resendWebhook",
  "seatHolders",
  "closePeriod",
  "ready",
  "metrics",
] as const satisfies readonly (keyof LedgerBackend)[];
export type BackendMethod = (typeof BACKEND_METHODS)[number];

/** A refusal as it crosses the contract: an HTTP status, a sentence, whether a retry may help. */
export interface Refusal {
  status: number;
  message: string;
  retriable: boolean;
}

/** An error that is a refusal: any error carrying a 4xx or 5xx `status` and a boolean `retriable`. */
export function refusalOf(error: unknown): Refusal | null {
  const e = error as { status?: unknown; retriable?: unknown; message?: unknown } | null;
  if (typeof e?.status !== "number" || e.status < 400 || e.status > 599 || typeof e.retriable !== "boolean") return null;
  return { status: e.status, message: String(e.message), retriable: e.retriable };
}

/** A refusal rebuilt on the receiving side of a transport. */
export class LedgerRefusal extends Error implements Refusal {
  constructor(
    readonly status: number,
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
    this.name = "LedgerRefusal";
  }

  static of(r: Refusal): LedgerRefusal {
    return new LedgerRefusal(r.status, r.message, r.retriable);
  }
}
