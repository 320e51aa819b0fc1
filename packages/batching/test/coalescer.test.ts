import { describe, expect, test } from "vitest";
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
});
