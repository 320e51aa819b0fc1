import { DEFAULT_CATALOGUE, inEffectAtEndOf, pricesFor, type ContractTerms, type PlanName, type PlanPrices, type PriceCatalogue } from "./catalogue";
import { adjustmentLines, ratePeriod, totalMicros, type PeriodQuantities, type RatedKind, type RatedLine } from "./invoice-rating";
import { formatInstant } from "./instant";
import { periodFromKey } from "./period";
import { formatUsd } from "./pricing";
import { nextPeriodKey } from "./period-close";
import type { SeatEvent } from "./seats";
import { monthlyInvoiceIdOf, monthSeatUsers, seatChargeMicros, type SeatCharge } from "./seat-billing";
import { applyCredits, type CreditApplied, type CreditGrant, type CreditVoid } from "./credits";
import type { AnnualCommitment, CommitmentTerms } from "./commitments";
import { isLegacyCreation, LEGACY_BILLED_FROM, LEGACY_REASON } from "./legacy";

/**
 * An organization's invoice for one period (spec §10.3–10.4), from what ClickHouse knows: the
 * period's own effects, and an adjustment per closed earlier period and kind for the effects
 * booked on this invoice late (C4). Quantities are counted by ClickHouse; this module prices.
 */

/** Distinct effects of one usage period booked on or before the invoice, and before it. */
export interface BookedCount {
  usagePeriod: string;
  upTo: bigint;
  before: bigint;
}

export interface BookedSeatEvent extends SeatEvent {
  bookedPeriod: string;
}

/** An `org-configured` as invoices read it (§10.1): plan and contract terms. */
export interface OrgConfiguration {
  occurredAtMs: number;
  plan: PlanName;
  terms: ContractTerms;
  /** An enterprise commitment (§10.8); it prices nothing, it grants a credit by annual invoice. */
  commitment?: CommitmentTerms;
  /** When the organization was created, if the configuration says (LG1). */
  createdAtMs?: number;
  /**
   * The latest period whose close marker came before it in its partition (none: it came before
   * every close). It is known when P closes, and so rates P, only if this is before P.
   */
  closedBefore?: string;
}

export interface InvoiceInput {
  orgId: string;
  period: string;
  status: "open" | "closed";
  baseTraces: readonly BookedCount[];
  extendedUpgrades: readonly BookedCount[];
  deploymentRuns: readonly BookedCount[];
  /** The organization's seat events in log order (each id's first delivery). */
  seatEvents: readonly BookedSeatEvent[];
  /** Its `org-configured` events in log order. */
  configurations: readonly OrgConfiguration[];
  /** Its credit grants and voids in log order, and what final invoices of earlier periods consumed (§10.7). */
  credits?: InvoiceCredits;
  /** Which invoice holds each seat charge already (`<month>/<user>` → invoice id; SA1, SA2). */
  seatHolders?: ReadonlyMap<string, string>;
  /** SA3: the first period billed with seats in advance (null or absent: every period). */
  seatBillingFrom?: string | null;
}

export interface InvoiceCredits {
  grants: readonly CreditGrant[];
  voids: readonly CreditVoid[];
  consumedMicros: ReadonlyMap<string, bigint>;
}

export interface InvoiceLine {
  kind: RatedKind | "adjustment";
  usagePeriod: string;
  adjusts?: RatedKind;
  userId?: string;
  atMs?: number;
  quantity: bigint;
  freeQuantity: bigint;
  unitPriceMicros: bigint;
  amountMicros: bigint;
  /** Why a line counts something at no charge (LG1). */
  reason?: string;
}

export interface Invoice {
  /** A seat invoice (SA2); absent on a monthly one. */
  kind?: "seats";
  orgId: string;
  /** The period; a seat invoice's day. */
  period: string;
  status: "open" | "closed";
  lines: InvoiceLine[];
  totalMicros: bigint;
  /** CR4: what each grant used takes off the total, in the order used. */
  credits: CreditApplied[];
}

/** What the invoice's credit lines take off, a positive amount. */
export const creditsMicrosOf = (invoice: { credits: readonly CreditApplied[] }): bigint => invoice.credits.reduce((t, c) => t + c.amountMicros, 0n);

/**
 * §10.1: the plan and terms in effect at the end of P as known when P closes (for an open P, as
 * known now), for P's own invoice and every later adjustment of P; an organization never
 * configured is a developer.
 */
export function pricesOfPeriod(configurations: readonly OrgConfiguration[], period: string, catalogue: PriceCatalogue = DEFAULT_CATALOGUE): PlanPrices {
  const config = configurationOfPeriod(configurations, period);
  return pricesFor(catalogue, period, config?.plan ?? "developer", config?.terms ?? {});
}

/** §10.1's configuration of P: in effect at the end of P as known when P closes. */
export function configurationOfPeriod(configurations: readonly OrgConfiguration[], period: string): OrgConfiguration | undefined {
  const known = configurations.filter((c) => c.closedBefore === undefined || c.closedBefore < period);
  return inEffectAtEndOf(known, periodFromKey(period));
}

/** LG1: a legacy organization's periods before July 2024 are rated at no charge, each line saying why. */
function waivedReason(configurations: readonly OrgConfiguration[], period: string): string | undefined {
  return period < LEGACY_BILLED_FROM && isLegacyCreation(configurationOfPeriod(configurations, period)?.createdAtMs) ? LEGACY_REASON : undefined;
}

const waive = <L extends { amountMicros: bigint }>(lines: L[], reason: string | undefined): (L & { reason?: string })[] =>
  reason === undefined ? lines : lines.map((l) => ({ ...l, amountMicros: 0n, reason }));

const UNIT: Record<RatedKind, keyof PlanPrices> = {
  base_traces: "baseTraceMicros",
  extended_upgrades: "upgradeMicros",
  seats: "seatMicros",
  seat_proration: "seatMicros",
  deployment_runs: "deploymentRunMicros",
};

export function invoiceOf(input: InvoiceInput, catalogue: PriceCatalogue = DEFAULT_CATALOGUE): Invoice {
  const B = input.period;
  const count = (rows: readonly BookedCount[], p: string, side: "upTo" | "before") => rows.find((r) => r.usagePeriod === p)?.[side] ?? 0n;
  const quantities = (p: string, side: "upTo" | "before"): PeriodQuantities => ({
    baseTraces: count(input.baseTraces, p, side),
    extendedUpgrades: count(input.extendedUpgrades, p, side),
    deploymentRuns: count(input.deploymentRuns, p, side),
  });

  const own = pricesOfPeriod(input.configurations, B, catalogue);
  const lines: InvoiceLine[] = waive(ratePeriod(B, quantities(B, "upTo"), own), waivedReason(input.configurations, B)).map(fromRated);
  lines.push(...monthlySeatLines(input, catalogue));

  // Closed earlier periods something was booked on this invoice for (C4).
  const touched = new Set<string>();
  for (const rows of [input.baseTraces, input.extendedUpgrades, input.deploymentRuns]) {
    for (const r of rows) if (r.usagePeriod < B && r.upTo !== r.before) touched.add(r.usagePeriod);
  }
  for (const p of [...touched].sort()) {
    const prices = pricesOfPeriod(input.configurations, p, catalogue);
    const reason = waivedReason(input.configurations, p);
    const before = waive(ratePeriod(p, quantities(p, "before"), prices), reason);
    const now = waive(ratePeriod(p, quantities(p, "upTo"), prices), reason);
    for (const a of adjustmentLines(p, before, now)) {
      lines.push({ kind: "adjustment", usagePeriod: p, adjusts: a.adjusts, quantity: a.quantity, freeQuantity: 0n, unitPriceMicros: prices[UNIT[a.adjusts]], amountMicros: a.amountMicros, ...(reason !== undefined ? { reason } : {}) });
    }
  }
  const total = totalMicros(lines);
  const c = input.credits;
  const credits = c ? applyCredits({ period: B, final: input.status === "closed", totalMicros: total, grants: c.grants, voids: c.voids, consumedMicros: c.consumedMicros }) : [];
  return { orgId: input.orgId, period: B, status: input.status, lines, totalMicros: total, credits };
}

/**
 * SA1's seat lines of P's monthly invoice, with the users each holds: the seats of P+1 in
 * advance (present at its first instant as known at P's close, at P+1's seat price as known
 * then), and at the change to these rules (SA3) P's own seats in arrears. Charges another
 * invoice already holds are left out.
 */
export function monthlySeatCharges(input: InvoiceInput, catalogue: PriceCatalogue = DEFAULT_CATALOGUE): { month: string; users: string[]; seatMicros: bigint }[] {
  const B = input.period;
  const self = monthlyInvoiceIdOf(input.orgId, B);
  const heldElsewhere = (key: string) => {
    const holder = input.seatHolders?.get(key);
    return holder !== undefined && holder !== self;
  };
  // As known at B's close (a preview: as known now) — for B+1 also its price.
  const known = input.status === "closed" ? input.configurations.filter((c) => c.closedBefore === undefined || c.closedBefore < B) : input.configurations;
  const months = input.seatBillingFrom === B ? [B, nextPeriodKey(B)] : [nextPeriodKey(B)];
  return months.map((month) => ({
    month,
    users: monthSeatUsers(input.seatEvents, month, B, heldElsewhere),
    seatMicros: pricesOfPeriod(month === B ? input.configurations : known, month, catalogue).seatMicros,
  }));
}

/**
 * SA2: a seat invoice of one organization and day, final when issued: a line per charge (the
 * month's seat, or a proration) at its month's seat price (§10.1), waived like any line of a
 * legacy organization's month before July 2024 (LG1); then credits by CR1–CR4 for each month's
 * charges in turn, with every grant known now and what other invoices consumed.
 */
export function seatInvoiceOf(input: { orgId: string; day: string; charges: readonly Pick<SeatCharge, "userId" | "month" | "kind" | "atMs">[]; configurations: readonly OrgConfiguration[]; credits?: InvoiceCredits }, catalogue: PriceCatalogue = DEFAULT_CATALOGUE): Invoice {
  const charges = [...input.charges].sort((a, b) => (a.month !== b.month ? (a.month < b.month ? -1 : 1) : a.atMs !== b.atMs ? a.atMs - b.atMs : a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const lines: InvoiceLine[] = charges.flatMap((c) => {
    const seat = pricesOfPeriod(input.configurations, c.month, catalogue).seatMicros;
    const line: InvoiceLine = { kind: c.kind, usagePeriod: c.month, userId: c.userId, atMs: c.atMs, quantity: 1n, freeQuantity: 0n, unitPriceMicros: seat, amountMicros: seatChargeMicros(c, seat) };
    return waive([line], waivedReason(input.configurations, c.month));
  });
  const credits: CreditApplied[] = [];
  const c = input.credits;
  if (c) {
    const consumed = new Map(c.consumedMicros);
    for (const month of [...new Set(lines.map((l) => l.usagePeriod))]) {
      const applied = applyCredits({ period: month, final: false, totalMicros: totalMicros(lines.filter((l) => l.usagePeriod === month)), grants: c.grants, voids: c.voids, consumedMicros: consumed });
      for (const a of applied) consumed.set(a.grantId, (consumed.get(a.grantId) ?? 0n) + a.amountMicros);
      credits.push(...applied);
    }
  }
  return { kind: "seats", orgId: input.orgId, period: input.day, status: "closed", lines, totalMicros: totalMicros(lines), credits: mergedCredits(credits) };
}

/** One credit line per grant, in the order first used. */
function mergedCredits(credits: readonly CreditApplied[]): CreditApplied[] {
  const out = new Map<string, bigint>();
  for (const c of credits) out.set(c.grantId, (out.get(c.grantId) ?? 0n) + c.amountMicros);
  return [...out].map(([grantId, amountMicros]) => ({ grantId, amountMicros }));
}

function monthlySeatLines(input: InvoiceInput, catalogue: PriceCatalogue): InvoiceLine[] {
  const out: InvoiceLine[] = [];
  for (const { month, users, seatMicros } of monthlySeatCharges(input, catalogue)) {
    if (users.length === 0) continue;
    const quantity = BigInt(users.length);
    const line: InvoiceLine = { kind: "seats", usagePeriod: month, quantity, freeQuantity: 0n, unitPriceMicros: seatMicros, amountMicros: quantity * seatMicros };
    out.push(...waive([line], waivedReason(input.configurations, month)));
  }
  return out;
}

function fromRated(l: RatedLine & { reason?: string }): InvoiceLine {
  return {
    ...(l.reason !== undefined ? { reason: l.reason } : {}),
    kind: l.kind,
    usagePeriod: l.usagePeriod,
    ...(l.userId !== undefined ? { userId: l.userId } : {}),
    ...(l.atMs !== undefined ? { atMs: l.atMs } : {}),
    quantity: l.quantity,
    freeQuantity: l.freeQuantity,
    unitPriceMicros: l.unitPriceMicros,
    amountMicros: l.amountMicros,
  };
}

/** One line of `--json` output and of the API (§10.3 field names; money as exact decimal strings). */
export interface InvoiceLineJson {
  org_id: string;
  period: string;
  status: "open" | "closed";
  kind: string;
  usage_period?: string;
  adjusts?: string;
  user_id?: string;
  at?: string;
  quantity?: number;
  free_quantity?: number;
  unit_price_usd?: string;
  /** On credit lines (CR4). */
  grant_id?: string;
  /** On an annual commitment's line: the term year's last period (§10.8). */
  last_period?: string;
  /** Why the line counts something at no charge (LG1). */
  reason?: string;
  amount_usd: string;
  /** On the total line only: what the credit lines take off, and what is to be paid, in cents. */
  credits_usd?: string;
  amount_due_usd?: string;
}

const CENT = 10_000n;

/**
 * What is to be paid: the exact total less credits, rounded half up to the cent (the one rounding
 * of an amount due). A negative difference rounds half away from zero.
 */
export function amountDueMicros(totalMicros: bigint, creditsMicros = 0n): bigint {
  const net = totalMicros - creditsMicros;
  const cents = net >= 0n ? (net + CENT / 2n) / CENT : -((-net + CENT / 2n) / CENT);
  return cents * CENT;
}

/** The invoice's lines, then `{"kind":"total", …}`. */
export function invoiceJson(invoice: Invoice): InvoiceLineJson[] {
  const head = { org_id: invoice.orgId, period: invoice.period, status: invoice.status };
  const lines: InvoiceLineJson[] = invoice.lines.map((l) => ({
    ...head,
    kind: l.kind,
    usage_period: l.usagePeriod,
    ...(l.adjusts !== undefined ? { adjusts: l.adjusts } : {}),
    ...(l.userId !== undefined ? { user_id: l.userId } : {}),
    ...(l.atMs !== undefined ? { at: formatInstant(l.atMs) } : {}),
    quantity: Number(l.quantity),
    free_quantity: Number(l.freeQuantity),
    unit_price_usd: formatUsd(l.unitPriceMicros),
    amount_usd: formatUsd(l.amountMicros),
    ...(l.reason !== undefined ? { reason: l.reason } : {}),
  }));
  for (const c of invoice.credits) lines.push({ ...head, kind: "credit", grant_id: c.grantId, amount_usd: formatUsd(-c.amountMicros) });
  const credits = creditsMicrosOf(invoice);
  lines.push({ ...head, kind: "total", amount_usd: formatUsd(invoice.totalMicros), credits_usd: formatUsd(credits), amount_due_usd: formatUsd(amountDueMicros(invoice.totalMicros, credits)) });
  return lines;
}

/**
 * What an invoice reads like to the one who pays it: its number, when it was issued (null: a
 * preview), the dates it covers (UTC instants, the end exclusive), the plan and the price
 * catalogue's version it is rated with.
 */
export interface InvoiceHeading {
  invoice_id: string;
  issued_at: string | null;
  period_start: string;
  period_end: string;
  plan: PlanName;
  price_version: number;
}

/** A month's invoice, an Enterprise commitment's annual invoice in advance (§10.8), or a day's seat invoice (SA2). */
export type InvoiceKind = "monthly" | "annual_commitment" | "seats";

/** An invoice as the API and `ledger invoice --json` give it. */
export interface InvoiceDocument {
  /** Absent on monthly invoices, whose documents predate the other kinds. */
  kind?: "annual_commitment" | "seats";
  /** How the API heads an invoice (a reader's, not the announcement's): see `InvoiceHeading`. */
  heading?: InvoiceHeading;
  org_id: string;
  period: string;
  status: "open" | "closed";
  lines: InvoiceLineJson[];
  /** The exact sum of the charge lines (micro-dollars). */
  total_usd: string;
  /** What the credit lines take off (a positive amount). */
  credits_usd: string;
  /** What is to be paid: the total less credits, rounded half up to the cent. */
  amount_due_usd: string;
}

export function invoiceDocument(invoice: Invoice): InvoiceDocument {
  const lines = invoiceJson(invoice);
  const total = lines.pop()!;
  return { ...(invoice.kind ? { kind: invoice.kind } : {}), org_id: invoice.orgId, period: invoice.period, status: invoice.status, lines, total_usd: total.amount_usd, credits_usd: total.credits_usd!, amount_due_usd: total.amount_due_usd! };
}

/**
 * AC1: an annual invoice, final when issued: one line, the commitment, for its twelve periods.
 * It takes no credit (AC2).
 */
export function annualInvoiceDocument(a: AnnualCommitment): InvoiceDocument {
  const amount = formatUsd(a.commitmentMicros);
  const head = { org_id: a.orgId, period: a.termStart, status: "closed" as const };
  return {
    kind: "annual_commitment",
    ...head,
    lines: [{ ...head, kind: "annual_commitment", usage_period: a.termStart, last_period: a.lastPeriod, quantity: 1, free_quantity: 0, unit_price_usd: amount, amount_usd: amount }],
    total_usd: amount,
    credits_usd: formatUsd(0n),
    amount_due_usd: formatUsd(amountDueMicros(a.commitmentMicros)),
  };
}

/** An invoice's id: the same whoever issues it and however often (`monthly/2024-06/acme`; '/' is outside the id alphabet). */
export const invoiceIdOf = (kind: InvoiceKind, org: string, period: string) => `${kind}/${period}/${org}`;

/** What a payment or ERP system receives when an invoice becomes final (IE1). */
export interface InvoiceIssued {
  type: "invoice-issued";
  invoice_id: string;
  kind: InvoiceKind;
  org_id: string;
  period: string;
  issued_at: string;
  lines: InvoiceLineJson[];
  total_usd: string;
  credits_usd: string;
  amount_due_usd: string;
  currency: "USD";
}

export function invoiceIssued(doc: InvoiceDocument, issuedAtMs: number): InvoiceIssued {
  const kind = doc.kind ?? "monthly";
  return {
    type: "invoice-issued",
    invoice_id: invoiceIdOf(kind, doc.org_id, doc.period),
    kind,
    org_id: doc.org_id,
    period: doc.period,
    issued_at: formatInstant(issuedAtMs),
    lines: doc.lines,
    total_usd: doc.total_usd,
    credits_usd: doc.credits_usd,
    amount_due_usd: doc.amount_due_usd,
    currency: "USD",
  };
}

/** The document's closing line, as `--json` and the CSV print it. */
export function invoiceTotalLine(doc: InvoiceDocument): InvoiceLineJson {
  return { org_id: doc.org_id, period: doc.period, status: doc.status, kind: "total", amount_usd: doc.total_usd, credits_usd: doc.credits_usd, amount_due_usd: doc.amount_due_usd };
}

/** A readable invoice: one row per line, amounts aligned, then the total. */
export function invoiceText(doc: InvoiceDocument): string {
  const rows = doc.lines.map((l) => {
    if (l.kind === "credit") return [`credit ${l.grant_id}`, "", "", `$${l.amount_usd}`];
    if (l.kind === "annual_commitment") return [`annual commitment ${l.usage_period} to ${l.last_period}`, "", "", `$${l.amount_usd}`];
    const what =
      l.kind === "adjustment"
        ? `adjustment ${l.usage_period} ${l.adjusts}`
        : l.kind === "seat_proration"
          ? `seat_proration ${l.usage_period} ${l.user_id} from ${l.at}`
          : l.kind === "seats"
            ? `seats ${l.usage_period}${l.user_id !== undefined ? ` ${l.user_id}` : ""}`
            : l.kind;
    const free = l.free_quantity ? ` (${l.free_quantity} free)` : "";
    return [l.reason ? `${what} (${l.reason})` : what, `${l.quantity}${free}`, `x $${l.unit_price_usd}`, `$${l.amount_usd}`];
  });
  const widths = [0, 1, 2, 3].map((i) => Math.max(0, ...rows.map((r) => r[i]!.length)));
  const body = rows.map((r) => `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]!.padStart(widths[3]!)}`);
  const h = doc.heading;
  const heading = h
    ? [`  invoice ${h.invoice_id}; ${h.issued_at === null ? "not issued (a preview)" : `issued ${h.issued_at}`}; covers ${h.period_start} to ${h.period_end} (UTC, end exclusive); plan ${h.plan}, price version ${h.price_version}`]
    : [];
  const header =
    doc.kind === "annual_commitment"
      ? `Annual invoice of ${doc.org_id} for the term year from ${doc.period} (final)`
      : doc.kind === "seats"
        ? `Seat invoice of ${doc.org_id} for ${doc.period} (final)`
        : `Invoice of ${doc.org_id} for ${doc.period} (${doc.status === "closed" ? "closed: final" : "open: a preview"})`;
  const credits = doc.credits_usd !== "0.00" ? [`  credits -$${doc.credits_usd}`] : [];
  return [header, ...heading, ...(body.length > 0 ? body : ["  (no charges)"]), `  total $${doc.total_usd}`, ...credits, `  amount due $${doc.amount_due_usd}`, ""].join("\n");
}

/** `--json`: one object per invoice line, then the invoice's total. */
export function invoiceJsonLines(doc: InvoiceDocument): string {
  return [...doc.lines, invoiceTotalLine(doc)].map((l) => JSON.stringify(l)).join("\n") + "\n";
}

const CSV_COLUMNS = ["org_id", "period", "status", "line", "kind", "usage_period", "adjusts", "user_id", "at", "quantity", "free_quantity", "unit_price_usd", "grant_id", "amount_usd", "credits_usd", "amount_due_usd", "reason"] as const;

/** A CSV cell: quoted when it holds a comma, a quote or a line break (RFC 4180). */
const csvCell = (v: unknown): string => {
  const s = v === undefined || v === null ? "" : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/** The invoice as CSV (RFC 4180): a header, one row per line numbered from 1, then the total with the amount due. */
export function invoiceCsv(doc: InvoiceDocument): string {
  const rows: string[] = [CSV_COLUMNS.join(",")];
  doc.lines.forEach((l, i) => {
    const cells: Record<string, unknown> = { ...l, line: i + 1 };
    rows.push(CSV_COLUMNS.map((c) => csvCell(cells[c])).join(","));
  });
  const total: Record<string, unknown> = { ...invoiceTotalLine(doc) };
  rows.push(CSV_COLUMNS.map((c) => csvCell(total[c])).join(","));
  return rows.join("\r\n") + "\r\n";
}
