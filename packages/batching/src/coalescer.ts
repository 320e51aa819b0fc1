/**
 * Merges work handed in by concurrent callers (one per Kafka partition being processed) into
 * one call, so ClickHouse sees one insert or one lookup instead of many small ones. Every
 * caller's promise settles with the shared call: when it resolves, that caller's items are
 * durable; when it fails, every caller in it fails and none commits its offsets.
 */
export class Coalescer<T, R> {
  private pending: { items: T[]; settle: { resolve: (r: R) => void; reject: (e: unknown) => void }[] } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastFlushAt = Number.NEGATIVE_INFINITY;

  /**
   * `lingerMs`: how long the first item waits for others. `minIntervalMs`: flushes start at
   * least this far apart (a full batch excepted), so a steady trickle of small batches becomes
   * a few larger ones while an idle caller still waits only `lingerMs`. Every ClickHouse insert
   * makes a part in its table and in each materialized view's, and every part is merged later:
   * at a few hundred rows per insert, inserting and merging cost the embedded engine more than
   * the rows did.
   */
  constructor(
    private readonly flush: (items: T[]) => Promise<R>,
    private readonly options: { lingerMs: number; maxItems: number; minIntervalMs?: number },
  ) {}

  add(items: readonly T[]): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending ??= { items: [], settle: [] };
      for (const item of items) this.pending.items.push(item);
      this.pending.settle.push({ resolve, reject });
      if (this.pending.items.length >= this.options.maxItems) this.flushNow();
      else this.timer ??= setTimeout(() => this.flushNow(), Math.max(this.options.lingerMs, this.lastFlushAt + (this.options.minIntervalMs ?? 0) - Date.now()));
    });
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastFlushAt = Date.now();
    const batch = this.pending;
    this.pending = null;
    if (!batch) return;
    this.flush(batch.items).then(
      (result) => batch.settle.forEach((s) => s.resolve(result)),
      (error) => batch.settle.forEach((s) => s.reject(error)),
    );
  }
}
