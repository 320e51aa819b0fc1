import { Counter, Histogram, type Registry } from "prom-client";
import { bookingPeriod, decideUpgrade, formatInstant, periodKeyOf, upgradeIdFor, type TraceState } from "@ledger/billing";
import { BOOKED_PERIOD_HEADER, FAMILY_HEADER, internalEvent, periodClosed, RECEIVED_AT_HEADER, traceKey, type InputEvent, type RetentionUpgrade, type TriggerEvent, type TriggerRejection, type UpgradeAlternative } from "@ledger/events";
import {
  BatchConsumer,
  deadLetterOf,
  watermarksOf,
  headerString,
  publish,
  type KeyedMessage,
  type LedgerTopics,
  type PartitionBatch,
  type KafkaAdmin,
  type KafkaConnection,
  type ConsumedMessage,
  type KafkaProducer,
} from "@ledger/kafka";
import { MARK_CONSUMERS, loadPartitionStates, loadTraceStates, passMarker, PeriodMarks, saveTraceStates, stateKey, type KeyedTraceState, type LedgerClickHouse, type PeriodMark } from "@ledger/clickhouse";
import { Coalescer, sharedMetric } from "@ledger/batching";
import type { UpgraderConfig } from "./config";
import { TraceStateCache } from "./trace-state-cache";
import { traceFactOf } from "./trace-fact";


export interface UpgraderDeps {
  kafka: KafkaConnection;
  admin: KafkaAdmin;
  producer: KafkaProducer;
  clickhouse: LedgerClickHouse;
  topics: LedgerTopics;
  groupId: string;
  config: UpgraderConfig;
  registry: Registry;
  onFatal: (error: Error) => void;
  sessionTimeoutMs?: number;
}

/**
 * Turns the first qualifying event of each trace into a `retention-upgrade` (rules U1–U5).
 * Per batch: decide in log order, publish upgrades and rejections, store the new trace states,
 * and only then let the consumer commit. A crash anywhere re-runs the batch against the stored
 * states, which gives the same upgrades with the same times, or none.
 */
export class Upgrader {
  private readonly consumer: BatchConsumer;
  /** Per partition of the trace-events topic; filled on first use after each (re)assignment. */
  private readonly caches = new Map<number, Promise<TraceStateCache>>();
  private partitionCount: Promise<number> | null = null;
  private readonly upgrades: Counter;
  private readonly rejections: Counter<"reason">;
  private readonly alternatives: Counter;
  private readonly deadLetters: Counter;
  private readonly stepSeconds: Histogram<"step">;
  private readonly lookups: Counter;
  // Concurrent partitions share one state query and one state insert.
  private readonly stateLoads: Coalescer<{ orgId: string; traceId: string }, Map<string, TraceState>>;
  private readonly stateSaves: Coalescer<KeyedTraceState, void>;
  private readonly marks: PeriodMarks;

  constructor(private readonly deps: UpgraderDeps) {
    this.upgrades = sharedMetric(deps.registry, Counter, { name: "ledger_upgrades_emitted_total", help: "retention-upgrade events published", registers: [deps.registry] });
    this.rejections = sharedMetric(deps.registry, Counter, {
      name: "ledger_trigger_rejections_total",
      help: "Triggers refused by the upgrader, by reason",
      labelNames: ["reason"],
      registers: [deps.registry],
    });
    this.alternatives = sharedMetric(deps.registry, Counter, { name: "ledger_upgrade_alternatives_total", help: "Alternative triggers of upgraded traces reported (§4.1's savings)", registers: [deps.registry] });
    this.deadLetters = sharedMetric(deps.registry, Counter, { name: "ledger_upgrader_dead_letters_total", help: "Unreadable messages dead-lettered by the upgrader", registers: [deps.registry] });
    this.lookups = sharedMetric(deps.registry, Counter, {
      name: "ledger_upgrader_state_lookups_total",
      help: "Traces looked up in ClickHouse one by one (zero while a partition's whole state is cached)",
      registers: [deps.registry],
    });
    const linger = { lingerMs: deps.config.lingerMs, maxItems: 50_000 };
    this.stateLoads = new Coalescer((keys) => loadTraceStates(deps.clickhouse, keys), linger);
    this.stateSaves = new Coalescer((states) => saveTraceStates(deps.clickhouse, states), { ...linger, minIntervalMs: deps.config.minSaveIntervalMs });
    this.marks = new PeriodMarks(deps.clickhouse, MARK_CONSUMERS.upgrader);
    this.stepSeconds = sharedMetric(deps.registry, Histogram, {
      name: "ledger_upgrader_step_seconds",
      help: "Time per batch in each step: load_state, decide, publish, save_state",
      labelNames: ["step"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [deps.registry],
    });
    this.consumer = new BatchConsumer({
      kafka: deps.kafka,
      admin: deps.admin,
      groupId: deps.groupId,
      topics: [deps.topics.events],
      concurrency: deps.config.concurrency,
      handle: (batch) => this.handle(batch),
      onFatal: deps.onFatal,
      sessionTimeoutMs: deps.sessionTimeoutMs,
      // Another member may have advanced a partition we held before: forget everything cached.
      onAssignment: () => {
        this.caches.clear();
        this.marks.forget();
        this.partitionCount = null;
      },
    });
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  stop(): Promise<void> {
    return this.consumer.stop();
  }

  /** Stops without committing or draining, as a crash would (tests of N instances). */
  abort(): Promise<void> {
    return this.consumer.abort();
  }

  private cacheFor(partition: number): Promise<TraceStateCache> {
    let cache = this.caches.get(partition);
    if (!cache) {
      cache = this.fillCache(partition);
      cache.catch(() => this.caches.delete(partition)); // a failed load is retried with the batch
      this.caches.set(partition, cache);
    }
    return cache;
  }

  /** Loads the partition's whole stored state when it fits, so no batch needs a lookup. */
  private async fillCache(partition: number): Promise<TraceStateCache> {
    const { clickhouse, config, admin, topics } = this.deps;
    if (!this.partitionCount) {
      const count = watermarksOf(admin, topics.events).then((w) => w.length);
      count.catch(() => this.partitionCount === count && (this.partitionCount = null));
      this.partitionCount = count;
    }
    const cache = new TraceStateCache(config.cachePerPartition);
    const all = await loadPartitionStates(clickhouse, partition, await this.partitionCount, config.cachePerPartition);
    if (all) {
      for (const [key, state] of all) cache.set(key, state);
      cache.complete = true;
    }
    return cache;
  }

  private async handle(batch: PartitionBatch): Promise<void> {
    const { topics } = this.deps;
    const cache = await this.cacheFor(batch.partition);
    const partitionCount = await this.partitionCount!;
    const source = { topic: batch.topic, partition: batch.partition };

    // Billing events are not the upgrader's; markers are (C2: an upgrade is late when its cause
    // comes after its period's marker) and travel on to the upgrades topic in their place.
    type Parsed = { message: ConsumedMessage; event?: InputEvent; error?: string; marker?: string };
    const parsed: Parsed[] = [];
    for (const message of batch.messages) {
      const family = headerString(message, FAMILY_HEADER);
      if (family === "billing") continue;
      let value: unknown;
      try {
        value = JSON.parse(message.value?.toString() ?? "");
      } catch {
        parsed.push({ message, error: "value is not JSON" });
        continue;
      }
      if (family === "marker") {
        const m = periodClosed.safeParse(value);
        parsed.push(m.success ? { message, marker: m.data.period } : { message, error: m.error.message });
        continue;
      }
      const result = internalEvent.safeParse(value);
      parsed.push(result.success ? { message, event: result.data } : { message, error: result.error.message });
    }
    let closed = await this.marks.closedBefore(batch.topic, batch.partition, batch.messages[0]!.offset);
    const marks: PeriodMark[] = [];

    const missing = new Map<string, { orgId: string; traceId: string }>();
    for (const p of parsed) {
      if (!p.event) continue;
      const key = stateKey(p.event.org_id, p.event.trace_id);
      if (!cache.complete && cache.get(key) === undefined) missing.set(key, { orgId: p.event.org_id, traceId: p.event.trace_id });
    }
    this.lookups.inc(missing.size);
    let timer = this.stepSeconds.startTimer({ step: "load_state" });
    const stored = missing.size > 0 ? await this.stateLoads.add([...missing.values()]) : new Map<string, TraceState>();
    timer();
    timer = this.stepSeconds.startTimer({ step: "decide" });

    const changed = new Map<string, KeyedTraceState>();
    const upgrades: KeyedMessage[] = [];
    const rejections: KeyedMessage[] = [];
    const deadLetters: KeyedMessage[] = [];
    for (const p of parsed) {
      if (p.marker !== undefined) {
        closed = passMarker(closed, p.marker);
        marks.push({ topic: batch.topic, partition: batch.partition, offset: p.message.offset, period: p.marker });
        upgrades.push({ key: "", value: p.message.value!.toString(), headers: { [FAMILY_HEADER]: "marker" }, partition: batch.partition });
        continue;
      }
      if (!p.event) {
        deadLetters.push(deadLetterOf(p.message, source, "upgrader.parse", p.error!));
        continue;
      }
      const event = p.event;
      const key = stateKey(event.org_id, event.trace_id);
      const before = changed.get(key)?.state ?? cache.get(key) ?? stored.get(key) ?? null;
      const decision = decideUpgrade(before, traceFactOf(event));
      if (decision.state !== before) {
        changed.set(key, { orgId: event.org_id, traceId: event.trace_id, state: decision.state, partition: batch.partition, partitionCount });
      }
      const headers = { [RECEIVED_AT_HEADER]: headerString(p.message, RECEIVED_AT_HEADER) ?? String(Date.now()) };
      if (decision.upgrade) {
        const upgrade: RetentionUpgrade = {
          id: upgradeIdFor(event.org_id, event.trace_id),
          type: "retention-upgrade",
          occurred_at: formatInstant(decision.upgrade.occurredAtMs),
          org_id: event.org_id,
          workspace_id: decision.upgrade.workspaceId,
          trace_id: event.trace_id,
          ...(decision.upgrade.projectId ? { project_id: decision.upgrade.projectId } : {}),
          cause: { type: decision.upgrade.cause.type, event_id: decision.upgrade.cause.eventId, source: decision.upgrade.cause.source },
        };
        // In the upgrades partition of the same number, so the markers forwarded there follow
        // exactly the upgrades caused before them.
        const booked = bookingPeriod(periodKeyOf(decision.upgrade.occurredAtMs), closed);
        upgrades.push({ key: traceKey(event.org_id, event.trace_id), value: JSON.stringify(upgrade), headers: { ...headers, [BOOKED_PERIOD_HEADER]: booked }, partition: batch.partition });
      }
      if (decision.rejection && event.type !== "trace-created") {
        const rejection: TriggerRejection = {
          ...triggerNamed(event),
          reason: decision.rejection.reason,
          trace_created_at: formatInstant(decision.rejection.createdAtMs),
          expired_at: formatInstant(decision.rejection.expiresAtMs),
        };
        rejections.push({ key: traceKey(event.org_id, event.trace_id), value: JSON.stringify(rejection), headers });
      }
      if (decision.alternative && event.type !== "trace-created") {
        const alternative: UpgradeAlternative = {
          ...triggerNamed(event),
          source: decision.alternative.source,
          cause: decision.alternative.cause,
          upgraded_at: formatInstant(decision.alternative.upgradedAtMs),
        };
        rejections.push({ key: traceKey(event.org_id, event.trace_id), value: JSON.stringify(alternative), headers: { ...headers, [FAMILY_HEADER]: "alternative" } });
      }
    }

    timer();
    // Effects first, state second: stored state never claims an upgrade nobody published.
    timer = this.stepSeconds.startTimer({ step: "publish" });
    await Promise.all([
      publish(this.deps.producer, topics.upgrades, upgrades),
      publish(this.deps.producer, topics.rejections, rejections),
      publish(this.deps.producer, topics.deadLetters, deadLetters),
    ]);
    timer();
    timer = this.stepSeconds.startTimer({ step: "save_state" });
    if (changed.size > 0) await this.stateSaves.add([...changed.values()]);
    timer();
    await this.marks.record(marks);
    this.marks.advance(batch.topic, batch.partition, closed, (BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n).toString());

    // The shared lookup may hold other partitions' traces: keep only this batch's.
    for (const key of missing.keys()) {
      const state = stored.get(key);
      if (state) cache.set(key, state);
    }
    for (const [key, { state }] of changed) cache.set(key, state);
    this.upgrades.inc(upgrades.length - marks.length); // forwarded markers are not upgrades
    const alternatives = rejections.filter((r) => r.headers?.[FAMILY_HEADER] === "alternative").length;
    if (rejections.length > alternatives) this.rejections.inc({ reason: "trace_expired" }, rejections.length - alternatives);
    if (alternatives > 0) this.alternatives.inc(alternatives);
    if (deadLetters.length > 0) this.deadLetters.inc(deadLetters.length);
  }
}

/** The trigger a rejection or an alternative is about. */
function triggerNamed(event: TriggerEvent) {
  return { event_id: event.id, type: event.type, occurred_at: event.occurred_at, org_id: event.org_id, workspace_id: event.workspace_id, trace_id: event.trace_id };
}
