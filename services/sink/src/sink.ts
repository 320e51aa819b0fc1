import { Counter, Histogram, type Registry } from "prom-client";
import { BatchConsumer, deadLetterOf, headerString, publish, type KeyedMessage, type LedgerTopics, type PartitionBatch, type KafkaAdmin, type KafkaConnection, type ConsumedMessage, type KafkaProducer } from "@ledger/kafka";
import { MARK_CONSUMERS, PeriodMarks, passMarker, type LedgerClickHouse, type PeriodMark } from "@ledger/clickhouse";
import { FAMILY_HEADER, RECEIVED_AT_HEADER } from "@ledger/events";
import { Coalescer, NotLeaderError, sharedMetric, type Leadership } from "@ledger/batching";
import type { SinkConfig } from "./config";
import { RunRetention } from "./run-retention";
import { accountRow, alternativeRow, billingEventRow, markerPeriod, rejectionRow, runLines, runRows, traceEventLine, traceEventRow, upgradeRow, type RowResult } from "./sink-rows";

/** Merges the lines of concurrent batches for one table into one insert: text, or bytes as they came from KafkaConnection. */
type LineWriter = Coalescer<string | Uint8Array, void>;

/** A table, how a message becomes its rows, and its writer. */
type Route = { table: string; row: (m: ConsumedMessage, partition: number) => RowResult; writer: LineWriter };

export interface SinkDeps {
  kafka: KafkaConnection;
  admin: KafkaAdmin;
  producer: KafkaProducer;
  clickhouse: LedgerClickHouse;
  topics: LedgerTopics;
  groupId: string;
  config: SinkConfig;
  registry: Registry;
  onFatal: (error: Error) => void;
  sessionTimeoutMs?: number;
  /** Which sink instance runs the run retention pass (one process alone: this one). */
  retentionLeadership?: Leadership;
}

/**
 * Writes trace events, upgrades, rejections and account events to ClickHouse in batches. The consumer commits
 * a batch's offsets only after the insert returned, so a crash re-inserts rows that the
 * deterministic ids and uniqExact views make harmless (D1–D3).
 */
export class Sink {
  private readonly consumer: BatchConsumer;
  private readonly batchRows: Histogram<"table">;
  private readonly insertSeconds: Histogram<"table">;
  private readonly deadLetters: Counter;
  private readonly visibleSeconds: Histogram<"table">;
  private readonly routes: Map<string, Route>;
  private readonly alternatives: Route;

  private readonly runRetention: RunRetention;
  private readonly runRetentionFailures: Counter;
  private readonly marks: PeriodMarks;

  constructor(private readonly deps: SinkDeps) {
    const { topics } = deps;
    // A failed pass is counted; the next one covers its window (its checkpoint was not saved).
    this.runRetention = new RunRetention(deps.clickhouse, { intervalMs: deps.config.runRetentionMs, settleMs: deps.config.runRetentionSettleMs }, (error) => {
      // Another instance holds the pass's lease: not a failure.
      if (!(error instanceof NotLeaderError)) this.runRetentionFailures.inc();
    }, (work) => this.timed("runs_v1.retention_pass", work), deps.retentionLeadership);
    const route = (table: string, row: (m: ConsumedMessage, partition: number) => RowResult) => ({
      table,
      row,
      // Batches of all partitions arriving together become one insert (group commit).
      writer: new Coalescer<string | Uint8Array, void>((lines) => this.insertLines(table, lines), {
        lingerMs: deps.config.lingerMs,
        maxItems: deps.config.maxInsertRows,
        minIntervalMs: table === "runs_v1" ? deps.config.minRunInsertIntervalMs : deps.config.minInsertIntervalMs,
      }),
    });
    this.marks = new PeriodMarks(deps.clickhouse, MARK_CONSUMERS.sink);
    // Upgrades' alternative triggers share the rejections topic (family "alternative"), not its table.
    this.alternatives = route("upgrade_alternatives_v1", alternativeRow);
    this.routes = new Map([
      [topics.events, route("trace_events_v1", traceEventRow)],
      [topics.upgrades, route("retention_upgrades_v1", upgradeRow)],
      [topics.rejections, route("trigger_rejections_v1", rejectionRow)],
      [topics.accounts, route("account_events_v1", accountRow)],
      [topics.runs, route("runs_v1", runRows)],
    ]);
    this.batchRows = sharedMetric(deps.registry, Histogram, {
      name: "ledger_sink_batch_rows",
      help: "Rows per ClickHouse insert",
      labelNames: ["table"],
      buckets: [1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000],
      registers: [deps.registry],
    });
    this.insertSeconds = sharedMetric(deps.registry, Histogram, {
      name: "ledger_sink_insert_seconds",
      help: "ClickHouse insert latency",
      labelNames: ["table"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [deps.registry],
    });
    // A histogram, not a summary: a summary's t-digest cost more CPU per event than the
    // sink's own work. Quantiles come from the buckets (histogram_quantile).
    this.visibleSeconds = sharedMetric(deps.registry, Histogram, {
      name: "ledger_event_visible_seconds",
      help: "From ingest receiving an event to its row being in ClickHouse (and so in the views)",
      labelNames: ["table"],
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 10, 12.5, 15, 20, 30, 60],
      registers: [deps.registry],
    });
    this.runRetentionFailures = sharedMetric(deps.registry, Counter, { name: "ledger_sink_run_retention_failures_total", help: "Run retention passes that failed (the next pass covers their window)", registers: [deps.registry] });
    this.deadLetters = sharedMetric(deps.registry, Counter, { name: "ledger_sink_dead_letters_total", help: "Unreadable messages dead-lettered by the sink", registers: [deps.registry] });
    this.consumer = new BatchConsumer({
      kafka: deps.kafka,
      admin: deps.admin,
      groupId: deps.groupId,
      topics: [...this.routes.keys()],
      concurrency: deps.config.concurrency,
      handle: (batch) => this.handle(batch),
      onFatal: deps.onFatal,
      sessionTimeoutMs: deps.sessionTimeoutMs,
      onAssignment: () => this.marks.forget(),
    });
  }

  async start(): Promise<void> {
    await this.consumer.start();
    this.runRetention.start();
  }

  async stop(): Promise<void> {
    await this.runRetention.stop();
    await this.consumer.stop();
  }

  /** Stops without committing or draining, as a crash would (tests of N instances). */
  async abort(): Promise<void> {
    void this.runRetention.stop();
    await this.consumer.abort();
  }

  /** The run retention pass, now (it also runs every `runRetentionMs`). */
  keepUpgradedRuns(): Promise<void> {
    return this.timed("runs_v1.retention_pass", () => this.runRetention.passNow());
  }

  private async handle(batch: PartitionBatch): Promise<void> {
    const route = this.routes.get(batch.topic)!;
    const { topic, partition } = batch;
    const first = batch.messages[0]!.offset;
    // Markers (C1) arrive on the input topic, and on the upgrades topic after the upgrades the
    // upgrader wrote before passing them; both say how far this partition's invoices are final.
    // On the accounts topic they say which configurations were known when a period closed (§10.1).
    const { events, upgrades, accounts, rejections } = this.deps.topics;
    const tracksCloses = topic === events || topic === upgrades || topic === accounts;
    let closed = tracksCloses ? await this.marks.closedBefore(topic, partition, first) : null;
    const marks: PeriodMark[] = [];
    const deadLetters: KeyedMessage[] = [];
    const deadLetter = (message: ConsumedMessage, step: string, reason: string) => deadLetters.push(deadLetterOf(message, { topic, partition }, step, reason));

    // Trace and billing events alike: one row each in trace_events_v1 (billing events reach
    // billing_events_v1 by a materialized view), so a batch is one insert whatever it holds.
    const traces: { message: ConsumedMessage; closed: string | null; billing: boolean }[] = [];
    const runs: ConsumedMessage[] = [];
    const lines: string[] = [];
    const alternativeLines: string[] = [];
    for (const message of batch.messages) {
      const family = tracksCloses || topic === rejections ? headerString(message, FAMILY_HEADER) : undefined;
      if (family === "marker") {
        const m = markerPeriod(message);
        if (!m.ok) deadLetter(message, "sink.period_marks_v1", m.reason);
        else {
          closed = passMarker(closed, m.period);
          marks.push({ topic, partition, offset: message.offset, period: m.period });
        }
      } else if (topic === this.deps.topics.events) {
        traces.push({ message, closed, billing: family === "billing" });
      } else if (topic === this.deps.topics.runs) {
        runs.push(message);
      } else if (family === "alternative") {
        const r = alternativeRow(message);
        if (r.ok && "row" in r) alternativeLines.push(JSON.stringify(r.row));
        else deadLetter(message, "sink.upgrade_alternatives_v1", r.ok ? "not one row" : r.reason);
      } else {
        const r = topic === accounts ? accountRow(message, partition, closed) : route.row(message, partition);
        if (r.ok && "rows" in r) for (const row of r.rows) lines.push(JSON.stringify(row));
        else if (r.ok) lines.push(JSON.stringify(r.row));
        else deadLetter(message, `sink.${route.table}`, r.reason);
      }
    }
    if (traces.length > 0 && !(await this.insertEventsFast(traces, partition, route.writer))) {
      for (const t of traces) {
        const r = t.billing ? billingEventRow(t.message, partition, t.closed) : traceEventRow(t.message, partition, t.closed);
        if (r.ok && "row" in r) lines.push(JSON.stringify(r.row));
        else deadLetter(t.message, `sink.${route.table}`, r.ok ? "not one row" : r.reason);
      }
    }
    if (runs.length > 0 && !(await this.insertRunsFast(runs, route.writer))) {
      for (const message of runs) {
        const r = runRows(message);
        if (r.ok && "rows" in r) for (const row of r.rows) lines.push(JSON.stringify(row));
        else deadLetter(message, `sink.${route.table}`, r.ok ? "not rows" : r.reason);
      }
    }
    await Promise.all([
      publish(this.deps.producer, this.deps.topics.deadLetters, deadLetters),
      lines.length > 0 ? route.writer.add(lines) : undefined,
      alternativeLines.length > 0 ? this.alternatives.writer.add(alternativeLines) : undefined,
    ]);
    // After the effects: a recorded marker promises that everything before it is in ClickHouse.
    await this.marks.record(marks);
    if (tracksCloses) this.marks.advance(topic, partition, closed, (BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n).toString());
    this.observeVisible(batch, route.table);
    this.deadLetters.inc(deadLetters.length);
  }

  /**
   * Trace events as pre-built JSONEachRow lines, no parse and no re-serialization: most of the
   * sink's work at volume. False when a message does not look normalized, or when ClickHouse
   * refused the lines and some message is invalid: the caller then validates every message,
   * dead-letters the bad ones and inserts the rest. A failure with all messages valid is thrown
   * (retried, offsets not committed).
   */
  private async insertEventsFast(traces: { message: ConsumedMessage; closed: string | null; billing: boolean }[], partition: number, writer: LineWriter): Promise<boolean> {
    const cache = new Map<string, string>();
    const lines: string[] = [];
    for (const { message, closed } of traces) {
      const line = traceEventLine(message, partition, cache, closed);
      if (line === null) return false;
      lines.push(line);
    }
    try {
      await writer.add(lines);
      return true;
    } catch (error) {
      if (traces.every((t) => (t.billing ? billingEventRow : traceEventRow)(t.message, partition, t.closed).ok)) throw error;
      return false;
    }
  }

  /**
   * Runs as the lines ingest wrote (`runMessagesOf`), appended as the messages' bytes, neither
   * decoded nor parsed: the run data is most of what the LangSmith API writes. False as
   * `insertEventsFast`: a message in another form, or a refused insert with an invalid message
   * among them.
   */
  private async insertRunsFast(messages: ConsumedMessage[], writer: LineWriter): Promise<boolean> {
    const lines: Uint8Array[] = [];
    for (const message of messages) {
      const own = runLines(message);
      if (own === null) return false;
      for (const line of own) lines.push(line);
    }
    try {
      await writer.add(lines);
      return true;
    } catch (error) {
      if (messages.every((m) => runRows(m).ok)) throw error;
      return false;
    }
  }

  private observeVisible(batch: PartitionBatch, table: string): void {
    // Events of one request share a received_at header: observe per distinct value, weighted.
    const visibleAt = Date.now();
    const counts = new Map<string, number>();
    for (const message of batch.messages) {
      const header = headerString(message, RECEIVED_AT_HEADER);
      if (header !== undefined) counts.set(header, (counts.get(header) ?? 0) + 1);
    }
    for (const [header, n] of counts) {
      const receivedAt = Number(header);
      if (!Number.isFinite(receivedAt)) continue;
      const seconds = (visibleAt - receivedAt) / 1000;
      for (let i = 0; i < n; i++) this.visibleSeconds.observe({ table }, seconds);
    }
  }

  private timed(step: string, work: () => Promise<void>): Promise<void> {
    const stopTimer = this.insertSeconds.startTimer({ table: step });
    return work().then(() => void stopTimer());
  }

  private async insertLines(table: string, lines: (string | Uint8Array)[]): Promise<void> {
    const stopTimer = this.insertSeconds.startTimer({ table });
    // Unknown fields must fail the insert (ClickHouse skips them by default), so nothing that
    // is not an event is stored as one.
    await this.deps.clickhouse.insertJsonLines(table, lines, INSERT_SETTINGS);
    stopTimer();
    this.batchRows.observe({ table }, lines.length);
  }
}

const INSERT_SETTINGS = {
  date_time_input_format: "best_effort",
  input_format_skip_unknown_fields: 0,
  input_format_json_read_objects_as_strings: 1,
  input_format_json_read_arrays_as_strings: 1,
};
