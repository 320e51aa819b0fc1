import type { TraceState } from "@ledger/billing";

/**
 * The states of one partition's recent traces, in front of the durable store. Bounded: past
 * `maxEntries` the oldest written entries are dropped (first in, first out: cheaper than LRU on
 * the hot path, and a trace's events cluster in time anyway); a dropped trace is read back from
 * ClickHouse on its next event, so eviction costs a query, never correctness.
 */
export class TraceStateCache {
  private readonly entries = new Map<string, TraceState>();
  /**
   * True while the cache holds every stored state of its partition: a trace missing from it is
   * unknown to the ledger, no lookup needed. Lost for good on the first eviction.
   */
  complete = false;

  constructor(private readonly maxEntries: number) {}

  get(key: string): TraceState | undefined {
    return this.entries.get(key);
  }

  set(key: string, state: TraceState): void {
    this.entries.set(key, state);
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
      this.complete = false;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
