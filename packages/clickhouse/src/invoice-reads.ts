import { catalogueVersionJson, invoiceOf, isPeriodKey, periodFromKey, periodKeyOf, type CatalogueVersionJson, type Invoice, type InvoiceLine } from "@ledger/billing";
import type { LedgerClickHouse } from "./client";
import { exportPeriod, type ExportDataset, type ExportFormat } from "./export-query";
import { closedPeriods, frozenInvoice, invoiceSources, latestFrozenPeriod, lineSources, loadCatalogue, periodsOfOrg } from "./invoice-query";

/** A request about invoices that cannot be answered: not a period, no such line, not final yet. */
export class InvoiceRequestError extends Error {
  readonly retriable = false;
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = "InvoiceRequestError";
  }
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
    if (!isPeriodKey(period)) throw new InvoiceRequestError(400, `period ${JSON.stringify(period)} is not a billing period YYYY-MM`);
    const final = await frozenInvoice(this.ch, org, period);
    if (final) return final;
    const [sources, catalogue] = await Promise.all([invoiceSources(this.ch, period, org), loadCatalogue(this.ch)]);
    return invoiceOf({ ...sources.get(org)!, period, status: "open" }, catalogue);
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

  /** The price catalogue's versions, §10.1's defaults first. */
  async catalogue(): Promise<CatalogueVersionJson[]> {
    return (await loadCatalogue(this.ch)).map(catalogueVersionJson);
  }
}
