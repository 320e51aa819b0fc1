import { Counter, Gauge, type Registry } from "prom-client";
import { alertEventIdOf, alertRuleJson, newlyCrossed, usageThresholdCrossed, type AlertRule, type AlertRuleJson, type UsageThresholdCrossed, monthlyInvoiceIdOf, monthlySeatCharges, newSeatAssignments, seatChargeKey, seatChargesOf, seatInvoiceDueMs, seatInvoiceIdOf, seatInvoiceOf, annualInvoiceDocument, commitmentsDue, type AnnualCommitment, catalogueVersionJson, catalogueVersionOf, CatalogueVersionError, invoiceDocument, invoiceIssued, invoiceOf, isPeriodKey, withCatalogueVersion, type CatalogueVersionJson, nextPeriodKey, periodFromKey, periodKeyOf, periodsBetween, previousPeriodKey, type Invoice, type InvoiceIssued } from "@ledger/billing";
import {
  closedThrough,
  earliestBillingPeriod,
  loadCatalogue,
  storeCatalogueVersion,
  invoiceSources,
  closedPeriods,
  latestFrozenPeriod,
  markersPassed,
  MARK_CONSUMERS,
  recordClose,
  storeInvoices,
  recordFrozen,
  annualInvoices,
  orgConfigurations,
  storeAnnualInvoice,
  firstIssuedAt,
  queueWebhooks,
  seatEventsByOrg,
  alertRules,
  storeAlertRule,
  sentAlerts,
  recordAlertsSent,
  workspaceLimits,
  queryUsage,
  heldSeatCharges,
  assignSeatCharges,
  seatInvoiceDays,
  seatBillingFrom,
  creditLedger,
  type HeldSeatCharge,
  InvoiceReads,
  InvoiceRequestError,
  type LedgerClickHouse,
} from "@ledger/clickhouse";
import { FAMILY_HEADER, periodClosedMarker } from "@ledger/events";
import { publish, watermarksOf, type LedgerTopics, type KafkaAdmin, type KafkaProducer } from "@ledger/kafka";
import { NotLeaderError, Repeater, soleLeadership, type Leadership } from "@ledger/batching";
import type { InvoicerConfig } from "./config";
import { WebhookSender } from "./webhook";

const COMMITMENTS_EVERY_MS = 5_000;
// Seat invoices are due a day after the purchase; each look costs the embedded ClickHouse a few
// statements beside the consumers' inserts, so once a minute (and before every freeze).
const SEATS_EVERY_MS = 60_000;
// A crossing is announced within a minute of the usage being visible (§6.6).
const ALERTS_EVERY_MS = 30_000;
const DEFAULT_SEAT_DELAY_MS = 3_600_000;

/** What a seat pass did: the seat invoices it issued, and when the next one assigned falls due. */
export interface SeatPass {
  issued: string[];
  nextDueMs: number | null;
}

export interface InvoicerDeps {
  admin: KafkaAdmin;
  producer: KafkaProducer;
  clickhouse: LedgerClickHouse;
  topics: LedgerTopics;
  config: InvoicerConfig;
  registry: Registry;
  /** The ledger's clock (epoch ms): closes are decided by it. */
  now: () => number;
  log: (line: string) => void;
  /** Which of the role's instances closes and freezes (one process alone: always this one). */
  leadership?: Leadership;
}

/**
 * Period close and final invoices (spec §10.4). Closing writes a `period-closed` marker to every
 * partition of the input topic (by itself after the grace, or when asked); freezing computes a
 * closed period's invoices from ClickHouse and stores them once every consumer has passed its
 * marker on every partition (C3), so no in-time effect can still be on its way.
 *
 * Every instance of the role runs its passes; only the leader acts, confirming its lease before
 * each write. A close asked for by command is made by whichever instance is asked.
 */
export class Invoicer {
  private readonly repeater: Repeater;
  private readonly failures: Counter<"step">;
  private readonly frozen: Counter;
  private readonly leadership: Leadership;

  constructor(private readonly deps: InvoicerDeps) {
    this.failures = new Counter({ name: "ledger_invoicer_failures_total", help: "Close or freeze passes that failed (retried on the next pass)", labelNames: ["step"], registers: [deps.registry] });
    this.frozen = new Counter({ name: "ledger_invoices_frozen_total", help: "Final invoices stored", registers: [deps.registry] });
    const leadership = (this.leadership = deps.leadership ?? soleLeadership);
    new Gauge({
      name: "ledger_invoicer_leader",
      help: "1 while this instance is the invoicer that closes and freezes periods",
      registers: [deps.registry],
      collect() {
        this.set(leadership.leads() ? 1 : 0);
      },
    });
    this.repeater = new Repeater(deps.config.intervalMs, () => (leadership.leads() ? this.pass() : Promise.resolve()));
    this.reads = new InvoiceReads(deps.clickhouse, deps.now);
    const webhook = deps.config.webhook;
    this.webhook = webhook ? new WebhookSender({ clickhouse: deps.clickhouse, config: webhook, now: deps.now, log: deps.log, leadership, registry: deps.registry }) : null;
  }

  private readonly webhook: WebhookSender | null;

  start(): void {
    this.repeater.start();
    this.webhook?.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.repeater.stop(), this.webhook?.stop()]);
  }

  /**
   * IE1 and IE3: the announcements on the invoices topic, then (with a webhook) queued for it;
   * an invoice queued before keeps its first body.
   */
  private async announce(issued: readonly InvoiceIssued[]): Promise<void> {
    const values = issued.map((e) => ({ key: e.org_id, value: JSON.stringify(e) }));
    await publish(this.deps.producer, this.deps.topics.invoices, values);
    if (this.webhook) await queueWebhooks(this.deps.clickhouse, values.map((v, i) => ({ invoiceId: issued[i]!.invoice_id, orgId: v.key, body: v.value })), this.deps.now());
  }

  private async pass(): Promise<void> {
    try {
      await this.closeAfterGrace();
    } catch (error) {
      if (error instanceof NotLeaderError) return;
      this.failures.inc({ step: "close" });
      this.deps.log(`invoicer: automatic close failed (retried): ${(error as Error).message}`);
    }
    try {
      // Term years begin at month starts and configurations change rarely: a look every few
      // seconds is prompt enough, and a freeze looks first anyway.
      if (this.deps.config.commitmentsByClock !== false && Date.now() - this.commitmentsCheckedAt >= COMMITMENTS_EVERY_MS) await this.issueDueCommitments(this.deps.now());
    } catch (error) {
      if (error instanceof NotLeaderError) return;
      this.failures.inc({ step: "commitments" });
      this.deps.log(`invoicer: annual invoices failed (retried): ${(error as Error).message}`);
    }
    try {
      // Seat invoices fall due an hour after a day ends; a look a minute is prompt.
      if (this.deps.config.commitmentsByClock !== false && Date.now() - this.seatsCheckedAt >= SEATS_EVERY_MS) await this.issueDueSeats(this.deps.now());
    } catch (error) {
      if (error instanceof NotLeaderError) return;
      this.failures.inc({ step: "seats" });
      this.deps.log(`invoicer: seat invoices failed (retried): ${(error as Error).message}`);
    }
    try {
      if (this.deps.config.commitmentsByClock !== false && Date.now() - this.alertsCheckedAt >= (this.deps.config.alertsEveryMs ?? ALERTS_EVERY_MS)) await this.checkAlerts(this.deps.now());
    } catch (error) {
      if (error instanceof NotLeaderError) return;
      this.failures.inc({ step: "alerts" });
      this.deps.log(`invoicer: alerts failed (retried): ${(error as Error).message}`);
    }
    try {
      await this.freezeReady();
    } catch (error) {
      if (error instanceof NotLeaderError) return;
      this.failures.inc({ step: "freeze" });
      this.deps.log(`invoicer: freezing failed (retried): ${(error as Error).message}`);
    }
  }

  /** C1: the latest period whose end + grace has passed, unless it is closed already. */
  private async closeAfterGrace(): Promise<void> {
    const grace = this.deps.config.closeGraceMs;
    if (grace === null) return;
    const due = previousPeriodKey(periodKeyOf(this.deps.now() - grace));
    const [latest] = await closedPeriods(this.deps.clickhouse);
    if (latest !== undefined && latest >= due) return;
    await this.writeMarkers(due, "grace");
  }

  /**
   * `ledger close --period P`: refused for a period that has not ended by the ledger's clock or
   * that is closed already (a period closes once). Earlier open periods close with it.
   */
  async close(period: string): Promise<{ period: string; partitions: number }> {
    if (!isPeriodKey(period)) throw new InvoiceRequestError(400, `period ${JSON.stringify(period)} is not a billing period YYYY-MM`);
    const end = periodFromKey(period).endMs;
    if (end > this.deps.now()) throw new InvoiceRequestError(400, `period ${period} has not ended yet (it ends at ${new Date(end).toISOString()}); only an ended period can be closed`);
    const [latest] = await closedPeriods(this.deps.clickhouse);
    if (latest !== undefined && latest >= period) throw new InvoiceRequestError(409, `period ${period} is already closed (periods are closed through ${latest}); a period closes once`);
    return { period, partitions: await this.writeMarkers(period, "command") };
  }

  /**
   * The marker on every partition of the input topic, acknowledged, then the close recorded.
   * A crash between the two leaves markers without a record; closing again writes a second
   * marker of the same period, which consumers pass without effect.
   */
  async writeMarkers(period: string, how: "grace" | "command" | "replay"): Promise<number> {
    const { topics, producer, admin } = this.deps;
    const [partitions, accountPartitions] = await Promise.all([watermarksOf(admin, topics.events), watermarksOf(admin, topics.accounts)]);
    const value = JSON.stringify(periodClosedMarker(period));
    const markers = (count: number, key: string) => Array.from({ length: count }, (_, partition) => ({ key, value, headers: { [FAMILY_HEADER]: "marker" }, partition }));
    // A close by command is the asker's; an automatic one is the leader's alone.
    if (how === "grace") await this.leadership.confirm();
    // The accounts topic's markers say which configurations were known at the close (§10.1). It
    // is compacted by key: each period's marker has its own ('/' is outside the id alphabet).
    await Promise.all([
      publish(producer, topics.events, markers(partitions.length, "")),
      publish(producer, topics.accounts, markers(accountPartitions.length, `period-closed/${period}`)),
    ]);
    if (how === "grace") await this.leadership.confirm();
    await recordClose(this.deps.clickhouse, period, how);
    this.deps.log(`invoicer: closed ${period} (${how}): markers on ${partitions.length} partition(s)`);
    return partitions.length;
  }

  /**
   * The latest period every consumer has passed the marker of, on every partition (C3), of the
   * input, upgrades and accounts topics.
   */
  async finalThrough(): Promise<string | null> {
    const { admin, topics, clickhouse } = this.deps;
    const [partitions, accountPartitions] = await Promise.all([watermarksOf(admin, topics.events), watermarksOf(admin, topics.accounts)]);
    const [inputs, upgrades, accounts] = await Promise.all([
      markersPassed(clickhouse, MARK_CONSUMERS.sink, topics.events),
      markersPassed(clickhouse, MARK_CONSUMERS.sink, topics.upgrades),
      markersPassed(clickhouse, MARK_CONSUMERS.sink, topics.accounts),
    ]);
    let through: string | null = null;
    const lower = (passed: string | undefined) => {
      if (passed === undefined) return false;
      if (through === null || passed < through) through = passed;
      return true;
    };
    for (let p = 0; p < partitions.length; p++) if (!lower(inputs.get(p)) || !lower(upgrades.get(p))) return null;
    for (let p = 0; p < accountPartitions.length; p++) if (!lower(accounts.get(p))) return null;
    return through;
  }

  /**
   * Stores the final invoices of every period that became final since the last pass (the leader
   * only; the same lines whoever stores them, so a write that outlived its lease changes nothing).
   */
  freezeReady(): Promise<string[]> {
    // One freeze at a time in an instance (its passes and a close's wait share it): two would
    // both store and announce the same month.
    this.freezing ??= this.serial(() => this.freezeOnce()).finally(() => (this.freezing = null));
    return this.freezing;
  }

  /**
   * Freezes and seat passes one after the other in an instance: a month's advance seats and a
   * seat invoice must not both take one user's month.
   */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private queue: Promise<unknown> = Promise.resolve();
  private seatsCheckedAt = Number.NEGATIVE_INFINITY;
  private freezing: Promise<string[]> | null = null;
  private commitmentsCheckedAt = Number.NEGATIVE_INFINITY;

  private async freezeOnce(): Promise<string[]> {
    const { clickhouse } = this.deps;
    const target = await this.finalThrough();
    if (target === null) return [];
    const latest = await latestFrozenPeriod(clickhouse);
    if (latest !== null && latest >= target) return [];
    let first = latest !== null ? nextPeriodKey(latest) : ((await earliestBillingPeriod(clickhouse)) ?? target);
    if (first > target) first = target;
    // A final invoice draws on every annual invoice due by now (AC2): issued before rating.
    if (this.deps.config.commitmentsByClock !== false) await this.issueDueCommitments(this.deps.now());
    // Seat charges learned so far are assigned before a month's advance seats are taken (SA1).
    if (this.deps.config.commitmentsByClock !== false) await this.seatPassOnce(this.deps.now());
    const done: string[] = [];
    let stored = 0;
    const catalogue = await loadCatalogue(clickhouse);
    for (const period of periodsBetween(first, target)) {
      const invoices: Invoice[] = [];
      const held: HeldSeatCharge[] = [];
      for (const sources of (await invoiceSources(clickhouse, period)).values()) {
        const input = { ...sources, period, status: "closed" as const };
        const invoice = invoiceOf(input, catalogue);
        if (invoice.lines.length > 0) invoices.push(invoice);
        for (const { month, users } of monthlySeatCharges(input, catalogue)) {
          for (const userId of users) held.push({ orgId: sources.orgId, month, userId, kind: "seats", atMs: periodFromKey(month).startMs, invoiceId: monthlyInvoiceIdOf(sources.orgId, period), day: "" });
        }
      }
      await this.leadership.confirm();
      // SA1: the seats this month's invoices hold in advance are theirs before they are stored.
      await assignSeatCharges(clickhouse, held, this.deps.now());
      // A freeze repeated after a crash keeps the first issue time: the same documents again.
      const issuedAt = (await firstIssuedAt(clickhouse, period)) ?? this.deps.now();
      await storeInvoices(clickhouse, invoices, issuedAt);
      // IE1: announced after they are stored and before the period is marked final, so a crash
      // in between announces them again, with the same invoice ids.
      await this.announce(invoices.map((invoice) => invoiceIssued(invoiceDocument(invoice), issuedAt)));
      await recordFrozen(clickhouse, period, invoices.length);
      this.frozen.inc(invoices.length);
      stored += invoices.length;
      done.push(period);
    }
    this.deps.log(`invoicer: ${done.length > 1 ? `${done[0]} to ${done.at(-1)}` : done[0]} final: ${stored} invoice(s) stored`);
    return done;
  }

  /**
   * AC1: every annual invoice due at `nowMs` (the ledger's clock; a replay passes its log's time)
   * by the configurations known now, issued once per organization and term year.
   */
  issueDueCommitments(nowMs: number): Promise<AnnualCommitment[]> {
    // One look at a time in an instance (a pass and a command's freeze share it): two would both
    // find a term year due and announce it twice.
    this.issuing ??= this.issueOnce(nowMs).finally(() => (this.issuing = null));
    return this.issuing;
  }

  private issuing: Promise<AnnualCommitment[]> | null = null;

  private async issueOnce(nowMs: number): Promise<AnnualCommitment[]> {
    this.commitmentsCheckedAt = Date.now();
    const [configurations, issued] = await Promise.all([orgConfigurations(this.deps.clickhouse), annualInvoices(this.deps.clickhouse)]);
    const issuedOf = new Map<string, Set<string>>();
    for (const a of issued) issuedOf.set(a.orgId, (issuedOf.get(a.orgId) ?? new Set()).add(a.termStart));
    const due: AnnualCommitment[] = [];
    for (const [org, list] of configurations) {
      due.push(...commitmentsDue(org, list, nowMs, issuedOf.get(org) ?? new Set()));
    }
    for (const a of due) await this.issueAnnual(a);
    return due;
  }

  /**
   * Issues one annual invoice: announced (IE1), then stored, which grants its credit. A crash
   * between the two announces it again with the same invoice id; consumers keep the first.
   */
  async issueAnnual(a: AnnualCommitment): Promise<void> {
    await this.leadership.confirm();
    const issued = invoiceIssued(annualInvoiceDocument(a), a.issuedAtMs);
    await this.announce([issued]);
    await storeAnnualInvoice(this.deps.clickhouse, a);
    this.frozen.inc();
    this.deps.log(`invoicer: annual invoice ${issued.invoice_id} issued: $${issued.total_usd} for ${a.termStart} to ${a.lastPeriod}`);
  }

  /**
   * SA2 at `nowMs` (the ledger's clock; a replay passes its log's time): every seat charge no
   * invoice holds is assigned to a day's seat invoice, and every seat invoice due is issued.
   */
  issueDueSeats(nowMs: number): Promise<SeatPass> {
    return this.serial(() => this.seatPassOnce(nowMs));
  }

  private async seatPassOnce(nowMs: number): Promise<SeatPass> {
    const { clickhouse } = this.deps;
    this.seatsCheckedAt = Date.now();
    const delayMs = this.deps.config.seatInvoiceDelayMs ?? DEFAULT_SEAT_DELAY_MS;
    const [events, held, frozenThrough, billingFrom] = await Promise.all([seatEventsByOrg(clickhouse), heldSeatCharges(clickhouse), latestFrozenPeriod(clickhouse), seatBillingFrom(clickhouse)]);
    const heldKeys = new Map<string, Set<string>>();
    for (const h of held) heldKeys.set(h.orgId, (heldKeys.get(h.orgId) ?? new Set()).add(seatChargeKey(h)));
    const assigned: HeldSeatCharge[] = [];
    for (const [org, list] of events) {
      const charges = seatChargesOf(list, periodKeyOf(nowMs));
      for (const { charge, day } of newSeatAssignments({ charges, held: heldKeys.get(org) ?? new Set(), frozenThrough, billingFrom, nowMs, delayMs })) {
        assigned.push({ orgId: org, month: charge.month, userId: charge.userId, kind: charge.kind, atMs: charge.atMs, invoiceId: seatInvoiceIdOf(org, day), day });
      }
    }
    if (assigned.length > 0) {
      await this.leadership.confirm();
      await assignSeatCharges(clickhouse, assigned, nowMs);
    }
    // Every seat invoice whose day has ended plus the settle time, not yet issued.
    const issuedDays = new Set((await seatInvoiceDays(clickhouse)).map((s) => `${s.orgId}/${s.day}`));
    const pending = new Map<string, HeldSeatCharge[]>();
    for (const h of [...held, ...assigned]) {
      if (h.day === "" || issuedDays.has(`${h.orgId}/${h.day}`)) continue;
      const key = `${h.orgId}/${h.day}`;
      pending.set(key, [...(pending.get(key) ?? []), h]);
    }
    const issued: string[] = [];
    let nextDueMs: number | null = null;
    const configurations = pending.size > 0 ? await orgConfigurations(clickhouse) : new Map();
    const catalogue = pending.size > 0 ? await loadCatalogue(clickhouse) : undefined;
    for (const charges of [...pending.values()].sort((a, b) => (a[0]!.day < b[0]!.day ? -1 : a[0]!.day > b[0]!.day ? 1 : 0))) {
      const { orgId, day } = charges[0]!;
      const due = seatInvoiceDueMs(day, delayMs);
      if (nowMs < due) {
        nextDueMs = nextDueMs === null || due < nextDueMs ? due : nextDueMs;
        continue;
      }
      const credits = await creditLedger(clickhouse, orgId, day);
      const invoice = seatInvoiceOf({ orgId, day, charges, configurations: configurations.get(orgId) ?? [], credits }, catalogue);
      await this.leadership.confirm();
      // Announced, then stored: a crash between the two announces it again with the same id.
      await this.announce([invoiceIssued(invoiceDocument(invoice), nowMs)]);
      await storeInvoices(clickhouse, [invoice], nowMs);
      this.frozen.inc();
      issued.push(seatInvoiceIdOf(orgId, day));
      this.deps.log(`invoicer: seat invoice ${seatInvoiceIdOf(orgId, day)} issued: $${invoiceDocument(invoice).total_usd} for ${charges.length} seat charge(s)`);
    }
    return { issued, nextDueMs };
  }

  /** §6.6: sets an organization's alert rule (the latest set counts); the thresholds already crossed this period stay announced. */
  async setAlert(rule: AlertRule): Promise<AlertRuleJson> {
    await storeAlertRule(this.deps.clickhouse, rule, this.deps.now());
    this.deps.log(`invoicer: alert ${rule.alertId} of ${rule.orgId} set at ${rule.thresholds.join(", ")} %`);
    return alertRuleJson(rule);
  }

  /**
   * §6.6 at `nowMs` (the ledger's clock): for every rule, its value this period (a workspace's
   * traces or upgrades as the views count them, against its configured limit; or the period's
   * invoice total so far, against the rule's amount), and every threshold newly crossed is
   * announced on the alerts topic and queued for the webhook, then recorded: once per threshold
   * and period, whoever looks and however often.
   */
  checkAlerts(nowMs: number): Promise<UsageThresholdCrossed[]> {
    this.alerting ??= this.alertsOnce(nowMs).finally(() => (this.alerting = null));
    return this.alerting;
  }

  private alerting: Promise<UsageThresholdCrossed[]> | null = null;
  private alertsCheckedAt = Number.NEGATIVE_INFINITY;

  private async alertsOnce(nowMs: number): Promise<UsageThresholdCrossed[]> {
    const { clickhouse } = this.deps;
    this.alertsCheckedAt = Date.now();
    const rules = await alertRules(clickhouse);
    if (rules.length === 0) return [];
    const period = periodKeyOf(nowMs);
    const [sent, limits] = await Promise.all([sentAlerts(clickhouse), workspaceLimits(clickhouse)]);
    const alerted = new Set(sent.map((s) => s.eventId));
    const usage = new Map<string, { base: bigint; upgrades: bigint }>();
    for (const org of new Set(rules.filter((r) => r.metric !== "spend").map((r) => r.orgId))) {
      for (const row of await queryUsage(clickhouse, { org, from: period, to: period, by: "workspace" })) {
        usage.set(`${org}/${row.workspace_id}`, { base: BigInt(row.base_traces), upgrades: BigInt(row.extended_upgrades) });
      }
    }
    const crossed: UsageThresholdCrossed[] = [];
    for (const rule of rules) {
      let value: bigint;
      let target: bigint;
      if (rule.metric === "spend") {
        value = (await this.reads.invoice(rule.orgId, period)).totalMicros;
        target = rule.spendMicros ?? 0n;
      } else {
        const limit = limits.get(`${rule.orgId}/${rule.workspaceId}`)?.[rule.metric] ?? null;
        if (limit === null) continue;
        const u = usage.get(`${rule.orgId}/${rule.workspaceId}`);
        value = rule.metric === "all_traces" ? (u?.base ?? 0n) : (u?.upgrades ?? 0n);
        target = BigInt(limit);
      }
      const done = new Set(rule.thresholds.filter((t) => alerted.has(alertEventIdOf(rule.orgId, rule.alertId, period, t))));
      for (const t of newlyCrossed(rule.thresholds, value, target, done)) crossed.push(usageThresholdCrossed(rule, period, t, value, target, nowMs));
    }
    if (crossed.length === 0) return [];
    await this.leadership.confirm();
    // Announced, then recorded: a crash between the two announces again with the same ids.
    const values = crossed.map((e) => ({ key: e.org_id, value: JSON.stringify(e) }));
    await publish(this.deps.producer, this.deps.topics.alerts, values);
    if (this.webhook) await queueWebhooks(clickhouse, values.map((v, i) => ({ invoiceId: crossed[i]!.id, orgId: v.key, body: v.value })), nowMs);
    await recordAlertsSent(
      clickhouse,
      crossed.map((e, i) => ({ eventId: e.id, orgId: e.org_id, alertId: rules.find((r) => alertEventIdOf(r.orgId, r.alertId, period, e.threshold_percent) === e.id)!.alertId, period, threshold: e.threshold_percent, body: values[i]!.value, sentAtMs: nowMs })),
    );
    for (const e of crossed) this.deps.log(`invoicer: alert ${e.id}: ${e.value} of ${e.target} ${e.unit}`);
    return crossed;
  }

  /** What anyone may read of invoices (the API reads the same with its own connection). */
  readonly reads: InvoiceReads;

  /**
   * Adds a catalogue version. Refused when its first period is closed (a final invoice would
   * change), when it does not start after the last version, or when its number is not the next.
   */
  async addCatalogueVersion(input: Omit<CatalogueVersionJson, "version"> & { version?: number }): Promise<CatalogueVersionJson> {
    const current = await loadCatalogue(this.deps.clickhouse);
    const closed = await closedThrough(this.deps.clickhouse);
    const next = catalogueVersionOf({ ...input, version: input.version ?? current.length + 1 });
    try {
      withCatalogueVersion(current, next, (p) => closed !== null && p <= closed);
    } catch (error) {
      if (!(error instanceof CatalogueVersionError)) throw error;
      if (error.reason === "closed") throw new InvoiceRequestError(409, `${error.message} (${nextPeriodKey(closed!)}); set first_period to it or later`);
      throw new InvoiceRequestError(400, error.message);
    }
    const json = catalogueVersionJson(next);
    await storeCatalogueVersion(this.deps.clickhouse, json);
    this.deps.log(`invoicer: price catalogue version ${json.version} from ${json.first_period}`);
    return json;
  }

  /** Resolves once `period` is final (after `ledger close`, for example), frozen here if this instance leads. */
  async waitUntilFinal(period: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.leadership.leads()) await this.freezeReady().catch(() => {});
      const latest = await latestFrozenPeriod(this.deps.clickhouse);
      if (latest !== null && latest >= period) return;
      if (Date.now() > deadline) throw new Error(`period ${period} is not final after ${timeoutMs} ms: some consumer has not passed its marker on every partition yet`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
