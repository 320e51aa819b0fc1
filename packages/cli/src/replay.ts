import { readFileSync, rmSync } from "node:fs";
import cliProgress from "cli-progress";
import { describeProblems, InvalidBatchError, isAccountEvent, isPeriodClosed, LOG_EVENTS, readNdjson, validateBatchOf, type AccountEvent, type LedgerEvent, type LogEvent } from "@ledger/events";
import { annualInvoices, queryUsage, seatInvoiceDays } from "@ledger/clickhouse";
import { LedgerStack } from "@ledger/stack";
import {
  annualInvoiceDocument,
  commitmentsDue,
  dayKeyOf,
  invoiceDocument,
  microsOfUsd,
  nextPeriodKey,
  parseInstant,
  periodsBetween,
  type AnnualCommitment,
  type CommitmentConfiguration,
  type InvoiceDocument,
  type UsageRow,
} from "@ledger/billing";
import { configFromEnv, freshRunEngines } from "./engines-from-env";

export class ReplayInputError extends Error {
  readonly retriable = false;
  constructor(
    readonly problems: InvalidBatchError["problems"],
    message = `the input was refused; nothing was published:\n  ${describeProblems(problems, 50).split("; ").join("\n  ")}`,
  ) {
    super(message);
    this.name = "ReplayInputError";
  }
}

/** Reads and validates the whole log (trace and account events) before anything is published (D4). */
export function readReplayInput(source: string): LogEvent[] {
  let text: string;
  try {
    text = source === "-" ? readFileSync(0, "utf8") : readFileSync(source, "utf8");
  } catch (error) {
    throw new ReplayInputError([], `cannot read ${source === "-" ? "standard input" : source}: ${(error as Error).message}`);
  }
  // Every line's problem, whether it is not JSON or not an event, in line order.
  const { values, lines, problems } = readNdjson(text);
  try {
    const events = validateBatchOf(LOG_EVENTS, values, (i) => ({ line: lines[i]! }));
    if (problems.length === 0) return events;
  } catch (error) {
    if (!(error instanceof InvalidBatchError)) throw error;
    problems.push(...error.problems);
  }
  throw new ReplayInputError(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
}

// One produce request per chunk: bigger record batches, fewer consumer round trips.
const CHUNK = 4_000;

/**
 * Pushes a validated log, in file order, through Kafka → upgrader → sink → ClickHouse on a
 * fresh stack, waits until the views reflect every event, and returns the report.
 */
export interface ReplayResult {
  usage: UsageRow[];
  /** With `invoices`: every organization's invoice of every period from its first to the later of the log's last period and the first open one. */
  invoices?: InvoiceDocument[];
}

export async function replay(events: LogEvent[], options: { by: "org" | "workspace"; progress: boolean; invoices?: boolean; verbose?: boolean }): Promise<ReplayResult> {
  const config = configFromEnv();
  const run = freshRunEngines(config.engines, "replay");
  // The engines' start-up lines only when asked for: the bar and the report are the answer.
  const log = (line: string) => options.verbose && process.stderr.write(`${line}\n`);
  // The log keeps the time: annual invoices are issued by it (AC1), never by the wall clock.
  const stack = await LedgerStack.start({ engines: run.engines, upgrader: config.upgrader, sink: config.sink, log, invoicer: { closeGraceMs: null, intervalMs: 500, commitmentsByClock: false } });
  const commitments = new LogCommitments();
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2_000, format: "{stage} [{bar}] {value}/{total} events", hideCursor: false },
    cliProgress.Presets.shades_classic,
  );
  try {
    if (options.progress) bar.start(events.length, 0, { stage: "publishing" });
    let closedThrough: string | null = null;
    const seats = new LogSeats();
    let chunk: LogEvent[] = [];
    let done = 0;
    // A chunk goes out whole: account events to their topic, the rest to the input topic.
    const flush = async () => {
      if (chunk.length === 0) return;
      // Stay within what the broker keeps: never run further ahead of the consumers.
      await stack.governor.waitForRoom(Number.POSITIVE_INFINITY, chunk.length);
      if (stack.fatal) throw stack.fatal;
      // Replays are recorded history: no key, no limits (§6.5). Account events go to their own topic.
      await stack.publishAccounts(chunk.filter((e): e is AccountEvent => isAccountEvent(e)));
      await stack.publisher.publish(chunk.filter((e): e is LedgerEvent => !isAccountEvent(e) && !isPeriodClosed(e)));
      done += chunk.length;
      chunk = [];
      if (options.progress) bar.update(done);
    };
    // SA2 by the log's time: what was read is in ClickHouse before a seat pass looks.
    const seatPass = async (atMs: number) => {
      await flush();
      await stack.waitUntilDrained();
      seats.passed(await stack.invoicer.issueDueSeats(atMs));
    };
    for (const e of events) {
      if (isPeriodClosed(e)) {
        // The close's markers go to every partition after everything before it was acknowledged
        // and before anything after it (C1); the month is frozen before the log goes on, so its
        // advance seats are taken where a live ledger would take them (SA1).
        if (seats.pending) await seatPass(seats.nowMs);
        await flush();
        const period = e.period;
        await stack.invoicer.writeMarkers(period, "replay");
        if (closedThrough === null || period > closedThrough) closedThrough = period;
        await stack.invoicer.waitUntilFinal(period, 120_000);
        done += 1;
        continue;
      }
      // Seat charges read are assigned before the log's time leaves their day; seat invoices are
      // issued when it reaches their due time (SA2).
      for (let at = seats.passBefore(e); at !== null; at = seats.passBefore(e)) await seatPass(at);
      seats.read(e);
      chunk.push(e);
      // Annual invoices due by the log's time, before the next close can freeze a month they grant to.
      for (const a of commitments.read(e, closedThrough)) {
        await flush();
        await stack.invoicer.issueAnnual(a);
      }
      if (chunk.length >= CHUNK) await flush();
    }
    if (seats.pending) await seatPass(seats.nowMs);
    await flush();
    const total = events.length;
    await stack.waitUntilDrained({
      onProgress: (remaining) => options.progress && bar.update(Math.max(0, total - Number(remaining)), { stage: "billing   " }),
    });
    if (options.progress) {
      bar.update(total, { stage: "billing   " });
      bar.stop();
    }
    const usage = await queryUsage(stack.clickhouse, { by: options.by });
    if (!options.invoices) return { usage };
    if (closedThrough !== null) await stack.invoicer.waitUntilFinal(closedThrough, 120_000);
    return { usage, invoices: await logInvoices(stack, events, closedThrough) };
  } finally {
    if (options.progress) bar.stop();
    await stack.stop();
    if (run.tempDir) rmSync(run.tempDir, { recursive: true, force: true });
  }
}

/**
 * AC1 in a replay: the log's time is the latest `occurred_at` read, and the configurations known
 * are those read so far (each with the latest close before it), so a replay issues the annual
 * invoices a live ledger reading the same log would have.
 */
export class LogCommitments {
  private nowMs = Number.NEGATIVE_INFINITY;
  private readonly configurations = new Map<string, CommitmentConfiguration[]>();
  private readonly issued = new Map<string, Set<string>>();
  /** Organizations whose configurations ever carried a commitment: the only ones to look at. */
  private readonly committed = new Set<string>();

  /** The annual invoices that become due once `event` is read. */
  read(event: LogEvent, closedThrough: string | null): AnnualCommitment[] {
    if (isPeriodClosed(event)) return [];
    const at = parseInstant(event.occurred_at);
    if (at.ok && at.epochMs > this.nowMs) this.nowMs = at.epochMs;
    if (event.type === "org-configured") {
      const list = this.configurations.get(event.org_id) ?? [];
      list.push({
        occurredAtMs: at.ok ? at.epochMs : 0,
        plan: event.plan,
        ...(event.commitment_usd !== undefined && event.term_start !== undefined ? { commitment: { commitmentMicros: microsOfUsd(event.commitment_usd), termStart: event.term_start } } : {}),
        ...(closedThrough !== null ? { closedBefore: closedThrough } : {}),
      });
      this.configurations.set(event.org_id, list);
      if (event.commitment_usd !== undefined) this.committed.add(event.org_id);
    }
    const due: AnnualCommitment[] = [];
    for (const org of this.committed) {
      const issued = this.issued.get(org) ?? new Set<string>();
      for (const a of commitmentsDue(org, this.configurations.get(org)!, this.nowMs, issued)) {
        this.issued.set(org, issued.add(a.termStart));
        due.push(a);
      }
    }
    return due;
  }
}

/**
 * SA2 in a replay: the log's time is the latest `occurred_at` read. A live ledger assigns a seat
 * charge to a day when it learns of it and issues a day's seat invoice when its due time comes;
 * a replay does both by the log's time: before the time leaves a day in which seat events were
 * read, and when it reaches the next due time.
 */
export class LogSeats {
  nowMs = Number.NEGATIVE_INFINITY;
  /** Seat events were read since the last pass. */
  pending = false;
  private nextDueMs: number | null = null;

  /** The time of a pass due before `event` moves the log's time on (null: none). */
  passBefore(event: LogEvent): number | null {
    if (isPeriodClosed(event)) return null;
    const at = parseInstant(event.occurred_at);
    if (!at.ok || at.epochMs <= this.nowMs) return null;
    if (this.pending && dayKeyOf(at.epochMs) !== dayKeyOf(this.nowMs)) return this.nowMs;
    if (this.nextDueMs !== null && at.epochMs >= this.nextDueMs) return this.nextDueMs;
    return null;
  }

  read(event: LogEvent): void {
    if (isPeriodClosed(event)) return;
    const at = parseInstant(event.occurred_at);
    if (at.ok && at.epochMs > this.nowMs) this.nowMs = at.epochMs;
    if (event.type === "seat-added" || event.type === "seat-removed") this.pending = true;
  }

  passed(result: { nextDueMs: number | null }): void {
    this.pending = false;
    this.nextDueMs = result.nextDueMs;
  }
}

/** Every organization's invoices for `replay --invoices`, from the same place as the API's. */
async function logInvoices(stack: LedgerStack, events: readonly LogEvent[], closedThrough: string | null): Promise<InvoiceDocument[]> {
  const firstOf = new Map<string, string>();
  let last: string | null = null;
  for (const e of events) {
    if (isPeriodClosed(e) || isAccountEvent(e)) continue;
    const p = e.occurred_at.slice(0, 7);
    const first = firstOf.get(e.org_id);
    if (first === undefined || p < first) firstOf.set(e.org_id, p);
    if (last === null || p > last) last = p;
  }
  const firstOpen = closedThrough === null ? null : nextPeriodKey(closedThrough);
  const through = last === null ? firstOpen : firstOpen === null || last > firstOpen ? last : firstOpen;
  // An annual invoice comes before the month its term year starts in (issued at its first instant).
  const annual = await annualInvoices(stack.clickhouse);
  // A month's seat invoices (SA2) come before its monthly invoice (issued after it closes).
  const seatDays = await seatInvoiceDays(stack.clickhouse);
  const out: InvoiceDocument[] = [];
  for (const org of [...new Set([...firstOf.keys(), ...annual.map((a) => a.orgId)])].sort()) {
    const own = annual.filter((a) => a.orgId === org);
    const days = seatDays.filter((d) => d.orgId === org).map((d) => d.day);
    const months = firstOf.has(org) ? periodsBetween(firstOf.get(org)!, through!) : [];
    for (const period of months) {
      while (own.length > 0 && own[0]!.termStart <= period) out.push(annualInvoiceDocument(own.shift()!));
      while (days.length > 0 && days[0]!.slice(0, 7) <= period) out.push(invoiceDocument(await stack.invoicer.reads.invoice(org, days.shift()!)));
      out.push(invoiceDocument(await stack.invoicer.reads.invoice(org, period)));
    }
    for (const day of days) out.push(invoiceDocument(await stack.invoicer.reads.invoice(org, day)));
    out.push(...own.map(annualInvoiceDocument));
  }
  return out;
}
