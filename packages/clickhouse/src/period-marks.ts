import { z } from "zod";
import { closedAfterMarker } from "@ledger/billing";
import type { LedgerClickHouse } from "./client";

/** The consumers that record the markers they pass (`period_marks_v1.consumer`). */
export const MARK_CONSUMERS = { sink: "sink", upgrader: "upgrader" } as const;

/** A `period-closed` marker a consumer passed, where it stood in its partition. */
export interface PeriodMark {
  topic: string;
  partition: number;
  offset: string;
  period: string;
}

interface PartitionPosition {
  closedThrough: string | null;
  /** The offset after the last batch whose effects are durable. */
  nextOffset: string;
}

/**
 * What one consumer knows of period closes, per partition (C2): the latest period whose marker
 * came before a position. Remembered for the next batch once a batch's effects are durable, and
 * read back from `period_marks_v1` after a restart or rebalance, counting only markers before
 * the offset the consumer resumes from: a marker recorded by a batch that was never committed
 * is seen again in its place, so every delivery of an event is booked the same way.
 */
export class PeriodMarks {
  private readonly positions = new Map<string, PartitionPosition>();

  constructor(
    private readonly ch: LedgerClickHouse,
    private readonly consumer: string,
  ) {}

  /** What the partition had closed just before `firstOffset` (the first message of a batch). */
  async closedBefore(topic: string, partition: number, firstOffset: string): Promise<string | null> {
    const known = this.positions.get(`${topic}:${partition}`);
    if (known && known.nextOffset === firstOffset) return known.closedThrough;
    const rs = await this.ch.client.query({
      query: `SELECT max(period) AS closed, count() AS marks FROM ${this.ch.table("period_marks_v1")}
              WHERE consumer = {consumer:String} AND topic = {topic:String} AND kafka_partition = {partition:UInt32} AND kafka_offset < {offset:UInt64}`,
      query_params: { consumer: this.consumer, topic, partition, offset: firstOffset },
      format: "JSONEachRow",
    });
    const [row] = z.array(z.object({ closed: z.string(), marks: z.coerce.number() })).parse(await rs.json());
    return row && row.marks > 0 ? row.closed : null;
  }

  /** Records markers passed in a batch; call after the batch's other effects are durable. */
  async record(marks: readonly PeriodMark[]): Promise<void> {
    if (marks.length === 0) return;
    await this.ch.client.insert({
      table: this.ch.table("period_marks_v1"),
      values: marks.map((m) => ({ consumer: this.consumer, topic: m.topic, kafka_partition: m.partition, kafka_offset: m.offset, period: m.period })),
      format: "JSONEachRow",
    });
  }

  /** The batch is durable: its successor starts from here. */
  advance(topic: string, partition: number, closedThrough: string | null, nextOffset: string): void {
    this.positions.set(`${topic}:${partition}`, { closedThrough, nextOffset });
  }

  /** Forget everything (after a rebalance another member may have moved a partition on). */
  forget(): void {
    this.positions.clear();
  }
}

/** Folds a marker into what a partition has closed (a marker never reopens a period). */
export const passMarker = closedAfterMarker;

/**
 * Per topic and partition, the latest period a consumer has passed the marker of (named query
 * `periods.passed`): a period is final once every partition shows it (C3).
 */
export async function markersPassed(ch: LedgerClickHouse, consumer: string, topic: string): Promise<Map<number, string>> {
  const rs = await ch.client.query({
    query: `SELECT kafka_partition AS partition, max(period) AS period FROM ${ch.table("period_marks_v1")}
            WHERE consumer = {consumer:String} AND topic = {topic:String} GROUP BY kafka_partition`,
    query_params: { consumer, topic },
    format: "JSONEachRow",
  });
  const rows = z.array(z.object({ partition: z.coerce.number(), period: z.string() })).parse(await rs.json());
  return new Map(rows.map((r) => [r.partition, r.period]));
}
