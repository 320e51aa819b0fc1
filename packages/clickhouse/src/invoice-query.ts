import { z } from "zod";
import { seatChargeKey, commitmentGrant, type AnnualCommitment, amountDueMicros, creditsMicrosOf, type CreditApplied, type CreditGrant, type CreditVoid, lastDayOf, catalogueVersionOf, DEFAULT_CATALOGUE, microsOfUsd, type CatalogueVersionJson, type PriceCatalogue, type BookedCount, type BookedSeatEvent, type ContractTerms, type Invoice, type InvoiceInput, type InvoiceLine, type OrgConfiguration, type PlanName } from "@ledger/billing";
import { dateTime64, type LedgerClickHouse } from "./client";
import { heldSeatCharges, seatBillingFrom, seatInvoiceDays } from "./seat-query";
import { bookedCountsFrom } from "./usage-rollup";

/**
 * What an invoice is computed from, read from ClickHouse (named queries `invoices.*`): per usage
 * period the distinct effects booked on or before the invoice's period and before it (each
 * trace's, upgrade's and run's earliest booking counts, so a delivery repeated after a close
 * books nothing), the seat events in log order, and the `org-configured` events. `orgs`: one
 * organization (the API, the CLI) or every organization with billing rows (freezing a period).
 */
export type InvoiceSources = Omit<InvoiceInput, "status" | "period">;

const countRow = z.object({ org_id: z.string(), usage_period: z.string(), up_to: z.coerce.bigint(), before: z.coerce.bigint() });
const seatRow = z.object({ org_id: z.string(), type: z.enum(["seat-added", "seat-removed"]), user_id: z.string(), occurred_ms: z.coerce.number(), booked_period: z.string() });
const configRow = z.object({
  org_id: z.string(),
  occurred_ms: z.coerce.number(),
  closed_before: z.string(),
  plan: z.enum(["developer", "plus", "startup", "enterprise"]),
  seat_price_usd: z.string().nullable(),
  free_base_traces: z.union([z.string(), z.number()]).nullable(),
  base_trace_price_usd: z.string().nullable(),
  upgrade_price_usd: z.string().nullable(),
  deployment_run_price_usd: z.string().nullable(),
  commitment_usd: z.string(),
  term_start: z.string(),
  created_at: z.string(),
});

const creditRow = z.object({
  org_id: z.string(),
  type: z.enum(["credit-granted", "credit-voided"]),
  occurred_ms: z.coerce.number(),
  closed_before: z.string(),
  grant_id: z.string(),
  amount_usd: z.string(),
  first_period: z.string(),
  last_period: z.string(),
  reason: z.string(),
  occurred_period: z.string(),
});
const consumedRow = z.object({ org_id: z.string(), grant_id: z.string(), consumed: z.coerce.bigint() });

export async function invoiceSources(ch: LedgerClickHouse, period: string, org?: string): Promise<Map<string, InvoiceSources>> {
  const params: Record<string, string> = { b: period, org: org ?? "" };
  const orgFilter = org === undefined ? "" : "AND org_id = {org:String}";
  const query = async <T>(name: string, sql: string, schema: z.ZodType<T>): Promise<T[]> => {
    const rs = await ch.client.query({ query: sql, query_params: params, format: "JSONEachRow", query_id: `invoices.${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}` });
    return z.array(schema).parse(await rs.json());
  };
  // Traces per usage period by their first booking, from the daily rollups (exact: sealed days
  // from their seal, the others from their rows; see daily_booked_counts_v1).
  const counts = bookedCountsFrom(ch, { org, toDay: lastDayOf(period) });
  const bookedCounts = (metric: "base" | "upgrade") => `
    SELECT org_id, left(toString(day), 7) AS usage_period, sumIf(traces, first_booked <= {b:String}) AS up_to, sumIf(traces, first_booked < {b:String}) AS before
    FROM ${counts.from}
    WHERE metric = '${metric}'
    GROUP BY org_id, usage_period`;
  Object.assign(params, counts.params);
  const [base, upgrades, runs, seats, configs, credits, consumed, annual, held, billingFrom] = await Promise.all([
    query("base_traces", bookedCounts("base"), countRow),
    query("extended_upgrades", bookedCounts("upgrade"), countRow),
    // DR1: a run is billed once, in the period of its first event in log order (its events
    // share a partition, so log order is offset order).
    query(
      "deployment_runs",
      `SELECT org_id, usage_period, countIf(first <= {b:String}) AS up_to, countIf(first < {b:String}) AS before
       FROM (SELECT org_id, run_id, argMin(period, (kafka_partition, kafka_offset)) AS usage_period, argMin(booked_period, (kafka_partition, kafka_offset)) AS first
             FROM ${ch.table("billing_events_v1")} WHERE type = 'deployment-run' ${orgFilter}
             GROUP BY org_id, run_id)
       WHERE usage_period <= {b:String}
       GROUP BY org_id, usage_period`,
      countRow,
    ),
    query("seat_events", seatEventsSql(ch, orgFilter), seatRow),
    query("configurations", configurationsSql(ch, orgFilter), configRow),
    query("credit_events", creditEventsSql(ch, orgFilter), creditRow),
    // CR4: invoices consume credits in the order they are issued: the final invoices of earlier
    // periods and the seat invoices issued so far (no later monthly invoice exists yet).
    query(
      "credits_consumed",
      `SELECT org_id, grant_id, sum(amount_micros) AS consumed FROM ${ch.table("invoice_credits_v1")} FINAL
       WHERE period != {b:String} ${orgFilter} GROUP BY org_id, grant_id`,
      consumedRow,
    ),
    annualInvoices(ch, org),
    heldSeatCharges(ch, org),
    seatBillingFrom(ch),
  ]);

  const out = new Map<string, InvoiceSources>();
  const of = (orgId: string) => {
    let s = out.get(orgId);
    if (!s) out.set(orgId, (s = { orgId, baseTraces: [], extendedUpgrades: [], deploymentRuns: [], seatEvents: [], configurations: [] }));
    return s as { [K in keyof InvoiceSources]: InvoiceSources[K] extends readonly (infer T)[] ? T[] : InvoiceSources[K] };
  };
  const counted = (r: z.output<typeof countRow>): BookedCount => ({ usagePeriod: r.usage_period, upTo: r.up_to, before: r.before });
  for (const r of base) of(r.org_id).baseTraces.push(counted(r));
  for (const r of upgrades) of(r.org_id).extendedUpgrades.push(counted(r));
  for (const r of runs) of(r.org_id).deploymentRuns.push(counted(r));
  for (const r of seats) of(r.org_id).seatEvents.push({ type: r.type, userId: r.user_id, occurredAtMs: r.occurred_ms, bookedPeriod: r.booked_period } satisfies BookedSeatEvent);
  for (const r of configs) {
    // Configurations alone make no invoice: only organizations with billing rows get one.
    if (org === undefined && !out.has(r.org_id)) continue;
    of(r.org_id).configurations.push(configurationOf(r));
  }
  if (org !== undefined && !out.has(org)) of(org);
  const creditsOf = creditSourcesOf(credits, consumed, annual);
  const holders = new Map<string, Map<string, string>>();
  for (const h of held) {
    const m = holders.get(h.orgId) ?? new Map<string, string>();
    holders.set(h.orgId, m.set(seatChargeKey(h), h.invoiceId));
  }
  for (const [orgId, sources] of out) {
    const s = sources as { credits?: InvoiceSources["credits"]; seatHolders?: InvoiceSources["seatHolders"]; seatBillingFrom?: InvoiceSources["seatBillingFrom"] };
    s.credits = creditsOf(orgId);
    s.seatHolders = holders.get(orgId) ?? new Map();
    s.seatBillingFrom = billingFrom;
  }
  return out;
}

/**
 * Named query `invoices.seat_events`: seat events in log order (keyed by org_id: one partition
 * per organization); each id's first delivery decides its place and its booking.
 */
function seatEventsSql(ch: LedgerClickHouse, orgFilter: string): string {
  return `SELECT org_id, argMin(type, pos) AS type, argMin(user_id, pos) AS user_id, toUnixTimestamp64Milli(argMin(occurred_at, pos)) AS occurred_ms,
                 argMin(booked_period, pos) AS booked_period, min(pos) AS first_pos
          FROM (SELECT *, (kafka_partition, kafka_offset) AS pos FROM ${ch.table("billing_events_v1")} WHERE type IN ('seat-added', 'seat-removed') ${orgFilter})
          GROUP BY org_id, id
          ORDER BY org_id, first_pos`;
}

/** Every organization's seat events in log order, for SA2's assignments. */
export async function seatEventsByOrg(ch: LedgerClickHouse): Promise<Map<string, BookedSeatEvent[]>> {
  const rs = await ch.client.query({ query: seatEventsSql(ch, ""), format: "JSONEachRow", query_id: `invoices.seat_events.${Date.now()}.${Math.random().toString(36).slice(2, 8)}` });
  const out = new Map<string, BookedSeatEvent[]>();
  for (const r of z.array(seatRow).parse(await rs.json())) {
    const list = out.get(r.org_id) ?? [];
    list.push({ type: r.type, userId: r.user_id, occurredAtMs: r.occurred_ms, bookedPeriod: r.booked_period });
    out.set(r.org_id, list);
  }
  return out;
}

/** Named query `invoices.configurations`: `org-configured` events in log order (§10.1). */
function configurationsSql(ch: LedgerClickHouse, orgFilter: string): string {
  return `SELECT org_id, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, closed_before, plan, seat_price_usd, free_base_traces, base_trace_price_usd, upgrade_price_usd, deployment_run_price_usd,
                 commitment_usd, term_start, created_at
          FROM ${ch.table("account_events_v1")} FINAL
          WHERE type = 'org-configured' ${orgFilter}
          ORDER BY org_id, kafka_partition, kafka_offset`;
}

/** Named query `invoices.credit_events` / `credits.events`: grants and voids in log order. */
function creditEventsSql(ch: LedgerClickHouse, orgFilter: string): string {
  return `SELECT org_id, type, toUnixTimestamp64Milli(occurred_at) AS occurred_ms, closed_before, grant_id, amount_usd, first_period, last_period, reason,
                 left(toString(occurred_at), 7) AS occurred_period
          FROM ${ch.table("account_events_v1")} FINAL
          WHERE type IN ('credit-granted', 'credit-voided') ${orgFilter}
          ORDER BY org_id, kafka_partition, kafka_offset`;
}

function creditSourcesOf(rows: readonly z.output<typeof creditRow>[], consumed: readonly z.output<typeof consumedRow>[], annual: readonly AnnualCommitment[]) {
  const byOrg = new Map<string, { grants: CreditGrant[]; voids: CreditVoid[]; consumedMicros: Map<string, bigint> }>();
  const of = (orgId: string) => {
    let c = byOrg.get(orgId);
    if (!c) byOrg.set(orgId, (c = { grants: [], voids: [], consumedMicros: new Map() }));
    return c;
  };
  for (const r of rows) {
    const closed = r.closed_before !== "" ? { closedBefore: r.closed_before } : {};
    if (r.type === "credit-voided") of(r.org_id).voids.push({ grantId: r.grant_id, voidedAtMs: r.occurred_ms, ...closed });
    else
      of(r.org_id).grants.push({
        grantId: r.grant_id,
        amountMicros: microsOfUsd(r.amount_usd),
        firstPeriod: r.first_period || r.occurred_period,
        lastPeriod: r.last_period || null,
        reason: r.reason,
        grantedAtMs: r.occurred_ms,
        ...closed,
      });
  }
  // AC1–AC2: each annual invoice grants its commitment, known where its configuration is.
  for (const a of annual) of(a.orgId).grants.push(commitmentGrant(a));
  for (const r of consumed) of(r.org_id).consumedMicros.set(r.grant_id, r.consumed);
  return (orgId: string) => byOrg.get(orgId) ?? { grants: [], voids: [], consumedMicros: new Map<string, bigint>() };
}

/** An organization's grants, voids and what every final invoice consumed (CR5), for balances. */
export async function creditLedger(ch: LedgerClickHouse, org: string, except?: string): Promise<{ grants: CreditGrant[]; voids: CreditVoid[]; consumedMicros: Map<string, bigint> }> {
  // `except`: an invoice being issued again after a crash does not count what it took itself.
  const params = { org, except: except ?? "" };
  const orgFilter = "AND org_id = {org:String}";
  const [events, consumed, annual] = await Promise.all([
    ch.client.query({ query: creditEventsSql(ch, orgFilter), query_params: params, format: "JSONEachRow", query_id: `credits.events.${Date.now()}.${Math.random().toString(36).slice(2, 8)}` }),
    ch.client.query({
      query: `SELECT org_id, grant_id, sum(amount_micros) AS consumed FROM ${ch.table("invoice_credits_v1")} FINAL WHERE org_id = {org:String} AND period != {except:String} GROUP BY org_id, grant_id`,
      query_params: params,
      format: "JSONEachRow",
      query_id: `credits.consumed.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
    }),
    annualInvoices(ch, org),
  ]);
  return creditSourcesOf(z.array(creditRow).parse(await events.json()), z.array(consumedRow).parse(await consumed.json()), annual)(org);
}

const annualRow = z.object({ org_id: z.string(), term_start: z.string(), last_period: z.string(), commitment_micros: z.coerce.bigint(), issued_ms: z.coerce.number(), closed_before: z.string() });

/**
 * Named query `invoices.annual`: the annual invoices issued (AC1), each term year's first
 * issue (a row repeated by a crash before its record reads as the first), oldest first.
 */
export async function annualInvoices(ch: LedgerClickHouse, org?: string): Promise<AnnualCommitment[]> {
  const rs = await ch.client.query({
    query: `SELECT org_id, term_start, argMin(last_period, issued_at) AS last_period, argMin(commitment_micros, issued_at) AS commitment_micros,
                   toUnixTimestamp64Milli(min(issued_at)) AS issued_ms, argMin(closed_before, issued_at) AS closed_before
            FROM ${ch.table("annual_invoices_v1")} ${org === undefined ? "" : "WHERE org_id = {org:String}"}
            GROUP BY org_id, term_start ORDER BY org_id, term_start`,
    query_params: { org: org ?? "" },
    format: "JSONEachRow",
    query_id: `invoices.annual.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  return z
    .array(annualRow)
    .parse(await rs.json())
    .map((r) => ({
      orgId: r.org_id,
      termStart: r.term_start,
      lastPeriod: r.last_period,
      commitmentMicros: r.commitment_micros,
      issuedAtMs: r.issued_ms,
      ...(r.closed_before !== "" ? { closedBefore: r.closed_before } : {}),
    }));
}

/** Stores an annual invoice (AC1); `annualInvoices` reads each term year's first. */
export async function storeAnnualInvoice(ch: LedgerClickHouse, a: AnnualCommitment): Promise<void> {
  await ch.client.insert({
    table: ch.table("annual_invoices_v1"),
    values: [{ org_id: a.orgId, term_start: a.termStart, last_period: a.lastPeriod, commitment_micros: a.commitmentMicros.toString(), issued_at: dateTime64(a.issuedAtMs), closed_before: a.closedBefore ?? "" }],
    format: "JSONEachRow",
  });
}

/** Every organization's configurations in log order (named query `invoices.configurations`), for AC1's decisions. */
/** Every organization's configurations in log order (with `org`, that organization's only). */
export async function orgConfigurations(ch: LedgerClickHouse, org?: string): Promise<Map<string, OrgConfiguration[]>> {
  const rs = await ch.client.query({
    query: configurationsSql(ch, org === undefined ? "" : "AND org_id = {org:String}"),
    query_params: org === undefined ? {} : { org },
    format: "JSONEachRow",
    query_id: `invoices.configurations.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  const out = new Map<string, OrgConfiguration[]>();
  for (const r of z.array(configRow).parse(await rs.json())) {
    const list = out.get(r.org_id) ?? [];
    list.push(configurationOf(r));
    out.set(r.org_id, list);
  }
  return out;
}

function configurationOf(r: z.output<typeof configRow>): OrgConfiguration {
  const terms: ContractTerms = {};
  const usd = (v: string | null) => (v === null || v === "" ? undefined : microsOfUsd(v));
  const seat = usd(r.seat_price_usd);
  if (seat !== undefined) terms.seatMicros = seat;
  const baseTrace = usd(r.base_trace_price_usd);
  if (baseTrace !== undefined) terms.baseTraceMicros = baseTrace;
  const upgrade = usd(r.upgrade_price_usd);
  if (upgrade !== undefined) terms.upgradeMicros = upgrade;
  const run = usd(r.deployment_run_price_usd);
  if (run !== undefined) terms.deploymentRunMicros = run;
  if (r.free_base_traces !== null && r.free_base_traces !== "") terms.freeBaseTraces = BigInt(r.free_base_traces);
  const commitment = r.commitment_usd !== "" && r.term_start !== "" ? { commitment: { commitmentMicros: microsOfUsd(r.commitment_usd), termStart: r.term_start } } : {};
  const created = r.created_at !== "" ? { createdAtMs: Date.parse(r.created_at) } : {};
  return { occurredAtMs: r.occurred_ms, plan: r.plan as PlanName, terms, ...commitment, ...created, ...(r.closed_before !== "" ? { closedBefore: r.closed_before } : {}) };
}

/**
 * Stores final invoices (C3), lines and totals; `recordFrozen` then marks the period final.
 * Deterministic lines: storing one again changes nothing.
 */
export async function storeInvoices(ch: LedgerClickHouse, invoices: readonly Invoice[], issuedAtMs: number): Promise<void> {
  const values = invoices.flatMap((inv) =>
    inv.lines.map((l, i) => ({
      org_id: inv.orgId,
      period: inv.period,
      line_no: i + 1,
      kind: l.kind,
      usage_period: l.usagePeriod,
      adjusts: l.adjusts ?? "",
      user_id: l.userId ?? "",
      at: l.atMs !== undefined ? new Date(l.atMs).toISOString() : "",
      quantity: l.quantity.toString(),
      free_quantity: l.freeQuantity.toString(),
      unit_price_micros: l.unitPriceMicros.toString(),
      amount_micros: l.amountMicros.toString(),
      reason: l.reason ?? "",
    })),
  );
  const credits = invoices.flatMap((inv) => inv.credits.map((c, i) => ({ org_id: inv.orgId, period: inv.period, credit_no: i + 1, grant_id: c.grantId, amount_micros: c.amountMicros.toString() })));
  const totals = invoices.map((inv) => {
    const taken = creditsMicrosOf(inv);
    return {
      org_id: inv.orgId,
      period: inv.period,
      total_micros: inv.totalMicros.toString(),
      credits_micros: taken.toString(),
      amount_due_micros: amountDueMicros(inv.totalMicros, taken).toString(),
      issued_at: dateTime64(issuedAtMs),
    };
  });
  if (values.length > 0) await ch.client.insert({ table: ch.table("invoice_lines_v1"), values, format: "JSONEachRow" });
  if (credits.length > 0) await ch.client.insert({ table: ch.table("invoice_credits_v1"), values: credits, format: "JSONEachRow" });
  if (totals.length > 0) await ch.client.insert({ table: ch.table("invoice_totals_v1"), values: totals, format: "JSONEachRow" });
}


/** When a period's final invoices were first stored (a freeze repeated after a crash reuses it); null: never. */
export async function firstIssuedAt(ch: LedgerClickHouse, period: string): Promise<number | null> {
  const rs = await ch.client.query({
    query: `SELECT toUnixTimestamp64Milli(min(issued_at)) AS ms FROM ${ch.table("invoice_totals_v1")} WHERE period = {period:String}`,
    query_params: { period },
    format: "JSONEachRow",
  });
  const [row] = z.array(z.object({ ms: z.coerce.number().nullable() })).parse(await rs.json());
  return row?.ms ?? null;
}

/** The users with a seat now (their latest seat event in log order is an addition), for G2. */
export async function seatHolders(ch: LedgerClickHouse, org: string): Promise<string[]> {
  const rs = await ch.client.query({
    query: `SELECT holder AS user_id FROM (
              SELECT holder, argMax(first_type, first_pos) AS last FROM (
                SELECT user_id AS holder, argMin(type, (kafka_partition, kafka_offset)) AS first_type, min((kafka_partition, kafka_offset)) AS first_pos
                FROM ${ch.table("billing_events_v1")} WHERE org_id = {org:String} AND type IN ('seat-added', 'seat-removed') GROUP BY id, user_id)
              GROUP BY holder)
            WHERE last = 'seat-added' ORDER BY holder`,
    query_params: { org },
    format: "JSONEachRow",
    query_id: `accounts.seat_holders.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  return z.array(z.object({ user_id: z.string() })).parse(await rs.json()).map((r) => r.user_id);
}

/** When each of an organization's final monthly invoices was first issued, by period. */
export async function issuedTimesOf(ch: LedgerClickHouse, org: string): Promise<Map<string, number>> {
  const rs = await ch.client.query({
    query: `SELECT period, toUnixTimestamp64Milli(min(issued_at)) AS ms FROM ${ch.table("invoice_totals_v1")} WHERE org_id = {org:String} AND issued_at IS NOT NULL GROUP BY period`,
    query_params: { org },
    format: "JSONEachRow",
  });
  return new Map(z.array(z.object({ period: z.string(), ms: z.coerce.number() })).parse(await rs.json()).map((r) => [r.period, r.ms]));
}

/** Marks a period final, once its invoices are stored and announced. */
export async function recordFrozen(ch: LedgerClickHouse, period: string, orgs: number): Promise<void> {
  await ch.client.insert({ table: ch.table("frozen_periods_v1"), values: [{ period, orgs }], format: "JSONEachRow" });
}

const storedLine = z.object({
  line_no: z.coerce.number(),
  kind: z.string(),
  usage_period: z.string(),
  adjusts: z.string(),
  user_id: z.string(),
  at: z.string(),
  quantity: z.coerce.bigint(),
  free_quantity: z.coerce.bigint(),
  unit_price_micros: z.coerce.bigint(),
  amount_micros: z.coerce.bigint(),
  reason: z.string(),
});

/** A final invoice's lines, in order (none for an organization without charges); null while its period is not frozen. */
export async function frozenInvoice(ch: LedgerClickHouse, org: string, period: string): Promise<Invoice | null> {
  // A seat invoice (SA2) is stored under its day, final once its totals are.
  const seats = period.length === 10;
  if (seats) {
    if (!(await seatInvoiceDays(ch, org)).some((s) => s.day === period)) return null;
  } else {
    const latest = await latestFrozenPeriod(ch);
    if (latest === null || period > latest) return null;
  }
  const rs = await ch.client.query({
    query: `SELECT line_no, kind, usage_period, adjusts, user_id, at, quantity, free_quantity, unit_price_micros, amount_micros, reason
            FROM ${ch.table("invoice_lines_v1")} FINAL WHERE org_id = {org:String} AND period = {period:String} ORDER BY line_no`,
    query_params: { org, period },
    format: "JSONEachRow",
  });
  const lines: InvoiceLine[] = z
    .array(storedLine)
    .parse(await rs.json())
    .map((r) => ({
      kind: r.kind as InvoiceLine["kind"],
      usagePeriod: r.usage_period,
      ...(r.adjusts ? { adjusts: r.adjusts as NonNullable<InvoiceLine["adjusts"]> } : {}),
      ...(r.user_id ? { userId: r.user_id } : {}),
      ...(r.at ? { atMs: Date.parse(r.at) } : {}),
      quantity: r.quantity,
      freeQuantity: r.free_quantity,
      unitPriceMicros: r.unit_price_micros,
      amountMicros: r.amount_micros,
      ...(r.reason ? { reason: r.reason } : {}),
    }));
  const cs = await ch.client.query({
    query: `SELECT grant_id, amount_micros FROM ${ch.table("invoice_credits_v1")} FINAL WHERE org_id = {org:String} AND period = {period:String} ORDER BY credit_no`,
    query_params: { org, period },
    format: "JSONEachRow",
  });
  const credits: CreditApplied[] = z
    .array(z.object({ grant_id: z.string(), amount_micros: z.coerce.bigint() }))
    .parse(await cs.json())
    .map((r) => ({ grantId: r.grant_id, amountMicros: r.amount_micros }));
  return { ...(seats ? { kind: "seats" as const } : {}), orgId: org, period, status: "closed", lines, totalMicros: lines.reduce((t, l) => t + l.amountMicros, 0n), credits };
}

export async function isFrozen(ch: LedgerClickHouse, period: string): Promise<boolean> {
  const rs = await ch.client.query({
    query: `SELECT count() AS n FROM ${ch.table("frozen_periods_v1")} WHERE period = {period:String}`,
    query_params: { period },
    format: "JSONEachRow",
  });
  const [row] = z.array(z.object({ n: z.coerce.number() })).parse(await rs.json());
  return (row?.n ?? 0) > 0;
}

/** The latest period frozen so far (null: none). */
export async function latestFrozenPeriod(ch: LedgerClickHouse): Promise<string | null> {
  const rs = await ch.client.query({ query: `SELECT max(period) AS p, count() AS n FROM ${ch.table("frozen_periods_v1")}`, format: "JSONEachRow" });
  const [row] = z.array(z.object({ p: z.string(), n: z.coerce.number() })).parse(await rs.json());
  return row && row.n > 0 ? row.p : null;
}

/** Periods the ledger closed (wrote markers for), latest first. */
export async function closedPeriods(ch: LedgerClickHouse): Promise<string[]> {
  const rs = await ch.client.query({ query: `SELECT DISTINCT period FROM ${ch.table("period_closes_v1")} ORDER BY period DESC`, format: "JSONEachRow" });
  return z.array(z.object({ period: z.string() })).parse(await rs.json()).map((r) => r.period);
}

export async function recordClose(ch: LedgerClickHouse, period: string, how: string): Promise<void> {
  await ch.client.insert({ table: ch.table("period_closes_v1"), values: [{ period, how }], format: "JSONEachRow" });
}

/** The earliest period any billing row belongs to (null: no rows yet). */
export async function earliestBillingPeriod(ch: LedgerClickHouse): Promise<string | null> {
  const rs = await ch.client.query({
    query: `SELECT minIf(q, q != '') AS p FROM (
              SELECT if(count() = 0, '', left(toString(toDate32(min(hour))), 7)) AS q FROM ${ch.table("trace_hours_v1")}
              UNION ALL SELECT min(period) AS q FROM ${ch.table("billing_events_v1")})`,
    format: "JSONEachRow",
  });
  const [row] = z.array(z.object({ p: z.string() })).parse(await rs.json());
  return row && row.p !== "" ? row.p : null;
}

/** The periods an organization has billing rows in, by usage or by booking (oldest first). */
export async function periodsOfOrg(ch: LedgerClickHouse, org: string): Promise<string[]> {
  const counts = bookedCountsFrom(ch, { org });
  const rs = await ch.client.query({
    query: `SELECT DISTINCT p FROM (
              SELECT DISTINCT arrayJoin([left(toString(day), 7), first_booked]) AS p FROM ${counts.from}
              UNION ALL SELECT DISTINCT arrayJoin([period, booked_period]) AS p FROM ${ch.table("billing_events_v1")} WHERE org_id = {org:String})
            ORDER BY p`,
    query_params: { org, ...counts.params },
    format: "JSONEachRow",
  });
  return z.array(z.object({ p: z.string() })).parse(await rs.json()).map((r) => r.p);
}

/** Which ledger rows a line stands for: its kind, usage period, and the bookings it counts. */
export interface LineSelector {
  org: string;
  /** The kind counted: the line's own, or what an adjustment adjusts. */
  kind: "base_traces" | "extended_upgrades" | "seats" | "seat_proration" | "deployment_runs";
  usagePeriod: string;
  /** The invoice's period. Own lines count bookings up to it; adjustments exactly it. */
  invoicePeriod: string;
  adjustment: boolean;
  userId?: string;
}

/**
 * The ledger rows behind an invoice line (named query `invoices.line_sources`), from the raw
 * tables: the trace creations, upgrades, deployment-run or seat events, each with its Kafka
 * position and the period it was booked on.
 */
export async function lineSources(ch: LedgerClickHouse, s: LineSelector): Promise<Record<string, unknown>[]> {
  const params = { org: s.org, p: s.usagePeriod, b: s.invoicePeriod, user: s.userId ?? "" };
  const booking = s.adjustment ? "first = {b:String}" : "first <= {b:String}";
  const q = async (sql: string) => {
    const rs = await ch.client.query({ query: sql, query_params: params, format: "JSONEachRow", query_id: `invoices.line_sources.${Date.now()}.${Math.random().toString(36).slice(2, 8)}` });
    return (await rs.json()) as Record<string, unknown>[];
  };
  // The traces whose first booking the line counts, from the hourly rows of the usage period.
  const traces = (metric: "base" | "upgrade", raw: string, where: string, columns: string) => q(`
    SELECT ${columns}
    FROM ${ch.table(raw)}
    WHERE org_id = {org:String} AND period = {p:String} ${where}
      AND (workspace_id, trace_id) IN (
        SELECT workspace_id, trace_id FROM (
          SELECT workspace_id, trace_id, min(booked_period) AS first FROM ${ch.table("trace_hours_v1")}
          WHERE org_id = {org:String} AND metric = '${metric}'
            AND hour >= toDateTime64(toDate32(concat({p:String}, '-01')), 0, 'UTC')
            AND hour < toDateTime64(toDate32(concat({p:String}, '-01')), 0, 'UTC') + INTERVAL 1 MONTH
          GROUP BY workspace_id, trace_id)
        WHERE ${booking})
    ORDER BY workspace_id, trace_id, occurred_at`);
  const position = "kafka_partition, kafka_offset";
  switch (s.kind) {
    case "base_traces":
      return traces("base", "trace_events_v1", "AND type = 'trace-created'", `'trace_events_v1' AS source, id, workspace_id, trace_id, occurred_at, booked_period, received_at, ${position}`);
    case "extended_upgrades":
      return traces("upgrade", "retention_upgrades_v1", "", "'retention_upgrades_v1' AS source, id, workspace_id, trace_id, occurred_at, booked_period, cause_type, cause_event_id, received_at");
    case "deployment_runs":
      return q(`
        SELECT 'billing_events_v1' AS source, id, workspace_id, deployment_id, run_id, occurred_at, booked_period, received_at, ${position}
        FROM ${ch.table("billing_events_v1")}
        WHERE org_id = {org:String} AND type = 'deployment-run' AND run_id IN (
          SELECT run_id FROM (
            SELECT run_id, argMin(period, (kafka_partition, kafka_offset)) AS usage, argMin(booked_period, (kafka_partition, kafka_offset)) AS first
            FROM ${ch.table("billing_events_v1")} WHERE org_id = {org:String} AND type = 'deployment-run' GROUP BY run_id)
          WHERE usage = {p:String} AND ${booking})
        ORDER BY run_id, ${position}`);
    case "seats":
    case "seat_proration":
      // The seat events that decide the line: every seat event of the organization (or of the
      // prorated user) up to the end of the usage period that the invoice knew of.
      return q(`
        SELECT 'billing_events_v1' AS source, id, type, user_id, occurred_at, booked_period, received_at, ${position}
        FROM ${ch.table("billing_events_v1")}
        WHERE org_id = {org:String} AND type IN ('seat-added', 'seat-removed') AND period <= {p:String} AND booked_period <= {b:String}
          ${s.kind === "seat_proration" && s.userId !== undefined ? "AND user_id = {user:String}" : ""}
        ORDER BY ${position}`);
  }
}

/** The catalogue: §10.1's defaults (version 1) and every stored version, in order. */
export async function loadCatalogue(ch: LedgerClickHouse): Promise<PriceCatalogue> {
  const rs = await ch.client.query({ query: `SELECT version, first_period, plans FROM ${ch.table("price_catalogue_v1")} FINAL ORDER BY version`, format: "JSONEachRow" });
  const rows = z.array(z.object({ version: z.coerce.number(), first_period: z.string(), plans: z.string() })).parse(await rs.json());
  return [...DEFAULT_CATALOGUE, ...rows.map((r) => catalogueVersionOf({ version: r.version, first_period: r.first_period, plans: JSON.parse(r.plans) }))];
}

export async function storeCatalogueVersion(ch: LedgerClickHouse, v: CatalogueVersionJson): Promise<void> {
  await ch.client.insert({ table: ch.table("price_catalogue_v1"), values: [{ version: v.version, first_period: v.first_period, plans: JSON.stringify(v.plans) }], format: "JSONEachRow" });
}

/** The latest period any close has reached: recorded closes, final invoices, or a marker any consumer passed. */
export async function closedThrough(ch: LedgerClickHouse): Promise<string | null> {
  const rs = await ch.client.query({
    query: `SELECT maxIf(p, p != '') AS p FROM (
              SELECT max(period) AS p FROM ${ch.table("period_closes_v1")}
              UNION ALL SELECT max(period) AS p FROM ${ch.table("frozen_periods_v1")}
              UNION ALL SELECT max(period) AS p FROM ${ch.table("period_marks_v1")})`,
    format: "JSONEachRow",
  });
  const [row] = z.array(z.object({ p: z.string() })).parse(await rs.json());
  return row && row.p !== "" ? row.p : null;
}
