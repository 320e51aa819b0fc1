import {
  burndownOf,
  catalogueVersionJson,
  commitmentGrantId,
  creditBalances,
  creditsDocument,
  formatInstant,
  formatUsd,
  annualInvoiceDocument,
  invoiceDocument,
  invoiceIdOf,
  invoiceOf,
  type InvoiceDocument,
  type InvoiceKind,
  isDayKey,
  isPeriodKey,
  nextPeriodKey,
  periodFromKey,
  periodKeyOf,
  pricesOfPeriod,
  configurationOfPeriod,
  catalogueVersionFor,
  planPricesJson,
  type PlanPrices,
  type PlanPricesJson,
  type CatalogueVersionJson,
  type CreditsDocument,
  type Invoice,
  type InvoiceLine,
} from "@ledger/billing";
import { z } from "zod";
import type { LedgerClickHouse } from "./client";
import { exportPeriod, type ExportDataset, type ExportFormat } from "./export-query";
import { queryDailyUsage } from "./daily-usage-query";
import { queryUpgradeAttribution, type UpgradeAttribution, type UpgradeAttributionParams } from "./upgrade-attribution-query";
import { monthOutlook, type MonthOutlook, type MonthOutlookParams } from "./month-outlook";
import { queryUsageCosts, type UsageCosts, type UsageCostsParams } from "./usage-costs-query";
import { seatInvoiceDays } from "./seat-query";
import { InvoiceRequestError } from "./invoice-request-error";

export { InvoiceRequestError };
import { annualInvoices, closedPeriods, creditLedger, frozenInvoice, invoiceSources, issuedTimesOf, latestFrozenPeriod, lineSources, loadCatalogue, orgConfigurations, periodsOfOrg } from "./invoice-query";

/** One invoice in an organization's list (`GET /v1/invoices/{org}`, `ledger invoice --org`). */
export interface InvoiceSummary {
  invoice_id: string;
  kind: InvoiceKind;
  period: string;
  status: "open" | "closed";
  /** When it became final; null for a preview. */
  issued_at: string | null;
  total_usd: string;
  credits_usd: string;
  amount_due_usd: string;
}

export interface InvoiceIndex {
  periods: { period: string; status: "open" | "closed" }[];
  invoices: InvoiceSummary[];
}

function summaryOf(doc: InvoiceDocument, issuedAtMs: number | null): InvoiceSummary {
  const kind = doc.kind ?? "monthly";
  return {
    invoice_id: invoiceIdOf(kind, doc.org_id, doc.period),
    kind,
    period: doc.period,
    status: doc.status,
    issued_at: issuedAtMs === null || doc.status === "open" ? null : formatInstant(issuedAtMs),
    total_usd: doc.total_usd,
    credits_usd: doc.credits_usd,
    amount_due_usd: doc.amount_due_usd,
  };
}

/**
 * What anyone may read of invoices, from ClickHouse alone: final invoices, previews, periods,
 * a line's sources, exports of final periods, the catalogue. The invoicer (which closes and
 * freezes) and the API (which answers) both read through it, each with its own connection.
 */
export class InvoiceReads {
  constructor(
    private readonly ch: LedgerClickHouse,
    /** The ledger's clock (epoch ms): which month is the current one. */
    private readonly now: () => number,
  ) {}

  /** An organization's invoice: final once frozen, otherwise a preview from what is known now (C5). */
  async invoice(org: string, period: string): Promise<Invoice> {
    if (isDayKey(period)) {
      // A day names a seat invoice (SA2): issued, or none.
      const seats = await frozenInvoice(this.ch, org, period);
      if (!seats) throw new InvoiceRequestError(404, `${org} has no seat invoice for ${period} (seat invoices are issued the day after a seat charge, once the day has ended and settled)`);
      return seats;
    }
    if (!isPeriodKey(period)) throw new InvoiceRequestError(400, `period ${JSON.stringify(period)} is not a billing period YYYY-MM (or a seat invoice's day YYYY-MM-DD)`);
    const final = await frozenInvoice(this.ch, org, period);
    if (final) return final;
    const [sources, catalogue] = await Promise.all([invoiceSources(this.ch, period, org), loadCatalogue(this.ch)]);
    return invoiceOf({ ...sources.get(org)!, period, status: "open" }, catalogue);
  }

  /** An invoice as the API gives it: the document with its heading (number, issue, dates, plan, prices). */
  async document(org: string, period: string): Promise<InvoiceDocument> {
    const invoice = await this.invoice(org, period);
    const month = period.slice(0, 7);
    const [issued, sources, catalogue] = await Promise.all([issuedTimesOf(this.ch, org), invoiceSources(this.ch, month, org), loadCatalogue(this.ch)]);
    const seats = period.length === 10;
    const startMs = seats ? Date.parse(`${period}T00:00:00Z`) : periodFromKey(period).startMs;
    const endMs = seats ? startMs + 86_400_000 : periodFromKey(period).endMs;
    const issuedAt = invoice.status === "closed" ? issued.get(period) : undefined;
    return {
      ...invoiceDocument(invoice),
      heading: {
        invoice_id: invoiceIdOf(invoice.kind ?? "monthly", org, period),
        issued_at: issuedAt === undefined ? null : formatInstant(issuedAt),
        period_start: formatInstant(startMs),
        period_end: formatInstant(endMs),
        plan: configurationOfPeriod(sources.get(org)?.configurations ?? [], month)?.plan ?? "developer",
        price_version: catalogueVersionFor(catalogue, month).version,
      },
    };
  }

  /**
   * The periods an organization has an invoice for: those with its billing rows (by usage or by
   * booking) and the current one, each closed (final) or open (a preview), latest first.
   */
  async periodsOf(org: string): Promise<{ period: string; status: "open" | "closed" }[]> {
    const [own, closed] = await Promise.all([periodsOfOrg(this.ch, org), closedPeriods(this.ch)]);
    const closedSet = new Set(closed);
    const periods = [...new Set([...own, periodKeyOf(this.now())])].sort().reverse();
    return periods.map((period) => ({ period, status: closedSet.has(period) ? "closed" : "open" }));
  }

  /**
   * Every invoice of an organization, latest first: each period's (final, or a preview) and each
   * annual invoice (§10.8), with its kind, issue time, status, total, credits and amount due.
   */
  async index(org: string): Promise<InvoiceIndex> {
    const [periods, annual, issued] = await Promise.all([this.periodsOf(org), annualInvoices(this.ch, org), issuedTimesOf(this.ch, org)]);
    const invoices: InvoiceSummary[] = [];
    for (const p of periods) {
      const doc = invoiceDocument(await this.invoice(org, p.period));
      invoices.push(summaryOf(doc, issued.get(p.period) ?? null));
    }
    for (const a of annual) invoices.push(summaryOf(annualInvoiceDocument(a), a.issuedAtMs));
    for (const s of await seatInvoiceDays(this.ch, org)) invoices.push(summaryOf(invoiceDocument((await frozenInvoice(this.ch, org, s.day))!), s.issuedAtMs));
    // Latest first by the month they belong to; in one month, the monthly invoice (issued at its
    // end), then the seat invoices (latest day first), then the annual one (issued at its start).
    const rank = (i: InvoiceSummary) => (i.kind === "monthly" ? `2` : i.kind === "seats" ? `1${i.period}` : "0");
    invoices.sort((a, b) => {
      const [ma, mb] = [a.period.slice(0, 7), b.period.slice(0, 7)];
      if (ma !== mb) return ma < mb ? 1 : -1;
      const [ra, rb] = [rank(a), rank(b)];
      return ra === rb ? 0 : ra < rb ? 1 : -1;
    });
    return { periods, invoices };
  }

  /** The ledger rows behind line `n` (1-based) of an organization's invoice. */
  async lineSources(org: string, period: string, n: number): Promise<{ line: InvoiceLine; sources: Record<string, unknown>[] }> {
    const invoice = await this.invoice(org, period);
    const line = invoice.lines[n - 1];
    if (!line) throw new InvoiceRequestError(404, `the invoice of ${org} for ${period} has ${invoice.lines.length} line(s); there is no line ${n}`);
    const kind = line.kind === "adjustment" ? line.adjusts! : line.kind;
    const sources = await lineSources(this.ch, {
      org,
      kind,
      usagePeriod: line.usagePeriod,
      invoicePeriod: period,
      adjustment: line.kind === "adjustment",
      ...(line.userId !== undefined ? { userId: line.userId } : {}),
    });
    return { line, sources };
  }

  /** `ledger export`: a final period's invoice lines or usage in a ClickHouse format; refused while it is open. */
  async exportPeriod(period: string, dataset: ExportDataset, format: ExportFormat): Promise<Buffer> {
    if (!isPeriodKey(period)) throw new InvoiceRequestError(400, `period ${JSON.stringify(period)} is not a billing period YYYY-MM`);
    const latest = await latestFrozenPeriod(this.ch);
    if (latest === null || period > latest) {
      const [closed] = await closedPeriods(this.ch);
      const end = periodFromKey(period).endMs;
      // What would make it final: the month must end, be closed (by the grace or by hand), and
      // every consumer pass its markers.
      const advice =
        end > this.now()
          ? `it has not ended yet (it ends at ${new Date(end).toISOString()})`
          : closed !== undefined && closed >= period
            ? "it is closed and its invoices become final once every consumer has passed its markers: try again in a moment"
            : `close it first (ledger close --period ${period})`;
      throw new InvoiceRequestError(409, `period ${period} is not final yet (${latest === null ? "no period is" : `final through ${latest}`}): its numbers can still change; ${advice}`);
    }
    return exportPeriod(this.ch, period, dataset, format);
  }

  /**
   * CR5 and AC3: each grant's balance and the totals; for an organization with annual invoices,
   * the current term year's burndown and every annual invoice issued.
   */
  async credits(org: string): Promise<CreditsDocument> {
    const [{ grants, voids, consumedMicros }, annual] = await Promise.all([creditLedger(this.ch, org), annualInvoices(this.ch, org)]);
    const balances = creditBalances(grants, voids, consumedMicros);
    const doc = creditsDocument(org, balances);
    if (annual.length === 0) return doc;
    const nowMs = this.now();
    const current = periodKeyOf(nowMs);
    const commitment = annual.filter((a) => a.termStart <= current).at(-1) ?? annual.at(-1)!;
    const balance = balances.find((b) => b.grant.grantId === commitmentGrantId(org, commitment.termStart))!;
    const latestFrozen = await latestFrozenPeriod(this.ch);
    const firstUnfrozen = latestFrozen === null ? commitment.termStart : nextPeriodKey(latestFrozen);
    return {
      ...doc,
      commitment: burndownOf({
        commitment,
        consumedMicros: balance.consumedMicros,
        remainingMicros: balance.remainingMicros,
        currentPeriod: current,
        firstOpenPeriod: firstUnfrozen > commitment.termStart ? firstUnfrozen : commitment.termStart,
        spentLast30DaysMicros: await this.spentLast30Days(org, nowMs),
      }),
      annual_invoices: annual.map((a) => ({
        invoice_id: invoiceIdOf("annual_commitment", org, a.termStart),
        term_start: a.termStart,
        last_period: a.lastPeriod,
        amount_usd: formatUsd(a.commitmentMicros),
        issued_at: formatInstant(a.issuedAtMs),
      })),
    };
  }

  /**
   * AC3's rate: the last 30 days' base traces, upgrades and deployment runs at the current
   * period's prices, and a month of the seats present at its start. The free allotment is not
   * taken off (a cautious rate).
   */
  private async spentLast30Days(org: string, nowMs: number): Promise<bigint> {
    const current = periodKeyOf(nowMs);
    const [usage, runs, preview, sources, catalogue] = await Promise.all([
      queryDailyUsage(this.ch, { org, days: 30 }, nowMs),
      this.ch.client.query({
        query: `SELECT uniqExact(run_id) AS n FROM ${this.ch.table("billing_events_v1")}
                WHERE org_id = {org:String} AND type = 'deployment-run' AND occurred_at > fromUnixTimestamp64Milli({from:Int64})`,
        query_params: { org, from: nowMs - 30 * 86_400_000 },
        format: "JSONEachRow",
      }),
      this.invoice(org, current),
      invoiceSources(this.ch, current, org),
      loadCatalogue(this.ch),
    ]);
    const prices = pricesOfPeriod(sources.get(org)!.configurations, current, catalogue);
    const [row] = z.array(z.object({ n: z.coerce.bigint() })).parse(await runs.json());
    const sum = (f: "base_traces" | "extended_upgrades") => BigInt(usage.series.reduce((t, d) => t + d[f], 0));
    const seats = preview.lines.filter((l) => l.kind === "seats").reduce((t, l) => t + l.amountMicros, 0n);
    return sum("base_traces") * prices.baseTraceMicros + sum("extended_upgrades") * prices.upgradeMicros + (row?.n ?? 0n) * prices.deploymentRunMicros + seats;
  }

  /** §4.1: a period's extended upgrades by what caused them, priced at the period's upgrade price. */
  async upgradeAttribution(query: UpgradeAttributionParams | Record<string, unknown>): Promise<UpgradeAttribution> {
    return queryUpgradeAttribution(this.ch, query, async (org, period) => (await this.pricesOf(org, period)).upgradeMicros);
  }

  /** §4.3: a period's base traces and upgrades per workspace or project, at the organization's prices. */
  costs(query: UsageCostsParams | Record<string, unknown>): Promise<UsageCosts> {
    return queryUsageCosts(this.ch, query, (org, period) => this.pricesOf(org, period));
  }

  /** An organization's prices of a period from its configurations alone (not the invoice's other sources). */
  private async pricesOf(org: string, period: string): Promise<PlanPrices> {
    const [configurations, catalogue] = await Promise.all([orgConfigurations(this.ch, org), loadCatalogue(this.ch)]);
    return pricesOfPeriod(configurations.get(org) ?? [], period, catalogue);
  }

  /** §4.2: a period so far (the current one by default) and its month-end forecast. */
  outlook(query: MonthOutlookParams | Record<string, unknown>): Promise<MonthOutlook> {
    return monthOutlook(this.ch, query, this.now(), async (org, period) => {
      const [sources, catalogue] = await Promise.all([invoiceSources(this.ch, period, org), loadCatalogue(this.ch)]);
      return { sources: sources.get(org)!, catalogue };
    });
  }

  /** The organization's prices of the current period, as its preview rates it (§10.1). */
  async currentPrices(org: string): Promise<PlanPricesJson> {
    return planPricesJson(await this.pricesOf(org, periodKeyOf(this.now())));
  }

  /** The price catalogue's versions, §10.1's defaults first. */
  async catalogue(): Promise<CatalogueVersionJson[]> {
    return (await loadCatalogue(this.ch)).map(catalogueVersionJson);
  }
}
