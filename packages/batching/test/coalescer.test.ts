import { describe, expect, test, vi } from "vitest";
import { Coalescer } from "../src";

describe("Coalescer", () => {
  test("concurrent callers share one flush and its result", async () => {
    const calls: number[][] = [];
    const c = new Coalescer(async (items: number[]) => {
      calls.push(items);
      return items.length;
    }, { lingerMs: 5, maxItems: 100 });
    const results = await Promise.all([c.add([1, 2]), c.add([3]), c.add([4, 5, 6])]);
    expect(calls).toEqual([[1, 2, 3, 4, 5, 6]]);
    expect(results).toEqual([6, 6, 6]);
  });

  test("a full batch flushes at once; a failure fails every caller of that flush only", async () => {
    let n = 0;
    const c = new Coalescer(async (items: string[]) => {
      n++;
      if (items.includes("bad")) throw new Error("insert failed");
      return items;
    }, { lingerMs: 1_000, maxItems: 2 });
    const a = c.add(["x", "bad"]);
    const b = c.add(["y"]);
    const d = c.add(["z"]);
    await expect(a).rejects.toThrow("insert failed");
    await expect(Promise.all([b, d])).resolves.toEqual([["y", "z"], ["y", "z"]]);
    expect(n).toBe(2);
  });

  test("flushes start at least minIntervalMs apart; the first waits only lingerMs; a full batch does not wait", async () => {
    vi.useFakeTimers();
    try {
      const starts: { at: number; items: number[] }[] = [];
      const t0 = Date.now();
      const c = new Coalescer(async (items: number[]) => {
        starts.push({ at: Date.now() - t0, items });
      }, { lingerMs: 5, maxItems: 3, minIntervalMs: 200 });
      const first = c.add([1]);
      await vi.advanceTimersByTimeAsync(5);
      await first;
      expect(starts).toEqual([{ at: 5, items: [1] }]);
      const second = c.add([2]);
      await vi.advanceTimersByTimeAsync(20);
      const third = c.add([3]);
      await vi.advanceTimersByTimeAsync(200);
      await Promise.all([second, third]);
      // The trickle waited for the interval, and went together.
      expect(starts[1]).toEqual({ at: 205, items: [2, 3] });
      await c.add([4, 5, 6]); // full: at once, interval or not
      expect(starts[2]).toEqual({ at: 225, items: [4, 5, 6] });
    } finally {
      vi.useRealTimers();
    }
  });
});
