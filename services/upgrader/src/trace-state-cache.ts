import type { TraceState } from "@ledger/billing";

/**
 * The states of one partition's recent traces, in front of the durable store. Bounded: the
 * least recently used entries are dropped past `maxEntries`; a dropped trace is read back from
 * ClickHouse on its next event, so eviction costs a query, never correctness.
 */
export class TraceStateCache {
  private readonly entries = new Map<string, TraceState>();

  constructor(private readonly maxEntries: number) {}

  get(key: string): TraceState | undefined {
    const state = this.entries.get(key);
    if (state !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, state);
    }
    return state;
  }

  set(key: string, state: TraceState): void {
    this.entries.delete(key);
    this.entries.set(key, state);
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
