import { readFileSync, rmSync } from "node:fs";
import cliProgress from "cli-progress";
import { describeProblems, InvalidBatchError, isAccountEvent, isPeriodClosed, LOG_EVENTS, readNdjson, validateBatchOf, type AccountEvent, type LedgerEvent, type LogEvent } from "@ledger/events";
import { annualInvoices, queryUsage } from "@ledger/clickhouse";
import { LedgerStack } from "@ledger/stack";
import {
  annualInvoiceDocument,
  commitmentsDue,
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
    for (let i = 0; i < events.length; ) {
      // A chunk ends before a period-closed line: the line's markers go to every partition
      // after everything before it was acknowledged and before anything after it (C1).
      const marker = events.findIndex((e, j) => j >= i && j < i + CHUNK && isPeriodClosed(e));
      const end = marker >= 0 ? marker : Math.min(i + CHUNK, events.length);
      const chunk = events.slice(i, end);
      // Stay within what the broker keeps: never run further ahead of the consumers.
      await stack.governor.waitForRoom(Number.POSITIVE_INFINITY, chunk.length);
      if (stack.fatal) throw stack.fatal;
      // Replays are recorded history: no key, no limits (§6.5). Account events go to their own topic.
      const accounts = chunk.filter((e): e is AccountEvent => isAccountEvent(e));
      await stack.publishAccounts(accounts);
      await stack.publisher.publish(chunk.filter((e): e is LedgerEvent => !isAccountEvent(e) && !isPeriodClosed(e)));
      // Annual invoices due by the log's time, before the next close can freeze a month they grant to.
      for (const e of chunk) for (const a of commitments.read(e, closedThrough)) await stack.invoicer.issueAnnual(a);
      if (marker >= 0) {
        const period = (events[marker] as { period: string }).period;
        await stack.invoicer.writeMarkers(period, "replay");
        if (closedThrough === null || period > closedThrough) closedThrough = period;
      }
      i = marker >= 0 ? marker + 1 : end;
      if (options.progress) bar.update(i);
    }
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
  const out: InvoiceDocument[] = [];
  for (const org of [...new Set([...firstOf.keys(), ...annual.map((a) => a.orgId)])].sort()) {
    const own = annual.filter((a) => a.orgId === org);
    const months = firstOf.has(org) ? periodsBetween(firstOf.get(org)!, through!) : [];
    for (const period of months) {
      while (own.length > 0 && own[0]!.termStart <= period) out.push(annualInvoiceDocument(own.shift()!));
      out.push(invoiceDocument(await stack.invoicer.reads.invoice(org, period)));
    }
    out.push(...own.map(annualInvoiceDocument));
  }
  return out;
}
