import { firstRefusal, type LimitCheck, type LimitRefusal } from "./limit-check";

/**
 * A deliberately naive reading of §6.1 and §6.4, used as the tests' oracle for the Redis step:
 * plain maps, no TTLs, no batching, every rule written out as the spec says it.
 */
export class ReferenceLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly sets = new Map<string, Set<string>>();
  private readonly sums = new Map<string, number>();

  admit(checks: readonly LimitCheck[], nowMs: number): { admitted: true } | { admitted: false; refusal: LimitRefusal } {
    const fresh: Set<number>[] = [];
    const counts = checks.map((c, i) => {
      if (c.kind === "rate") {
        const w = this.windows.get(c.counter);
        // A window opens with the first request when none is open, and lasts 60 s.
        const open = w !== undefined && nowMs >= w.start && nowMs < w.start + c.windowMs;
        return { current: open ? w!.count : 0, requested: 1, resetsAtMs: open ? w!.start + c.windowMs : nowMs + c.windowMs };
      }
      if (c.kind === "distinct") {
        const here = this.sets.get(c.counter) ?? new Set();
        const before = this.sets.get(c.previous) ?? new Set();
        const seen = new Set<string>();
        const newIndexes = new Set<number>();
        c.members.forEach((m, j) => {
          if (!seen.has(m) && !here.has(m) && !before.has(m)) newIndexes.add(j);
          seen.add(m);
        });
        fresh[i] = newIndexes;
        return { current: here.size, requested: newIndexes.size, resetsAtMs: c.window.endMs };
      }
      const added = c.weights.reduce((s, w, j) => (fresh[c.of]!.has(j) ? s + w : s), 0);
      return { current: this.sums.get(c.counter) ?? 0, requested: added, resetsAtMs: c.window.endMs };
    });
    const refusal = firstRefusal(checks, (i) => counts[i]!);
    if (refusal) return { admitted: false, refusal };
    checks.forEach((c, i) => {
      if (c.kind === "rate") {
        const w = this.windows.get(c.counter);
        const open = w !== undefined && nowMs >= w.start && nowMs < w.start + c.windowMs;
        this.windows.set(c.counter, open ? { start: w!.start, count: w!.count + 1 } : { start: nowMs, count: 1 });
      } else if (c.kind === "distinct") {
        const set = this.sets.get(c.counter) ?? new Set();
        for (const j of fresh[i]!) set.add(c.members[j]!);
        this.sets.set(c.counter, set);
      } else {
        this.sums.set(c.counter, (this.sums.get(c.counter) ?? 0) + counts[i]!.requested);
      }
    });
    return { admitted: true };
  }
}
