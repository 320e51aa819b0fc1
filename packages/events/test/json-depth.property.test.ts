import fc from "fast-check";
import { expect, test } from "vitest";
import { InvalidBatchError, MAX_JSON_DEPTH, nestsDeeperThan, parseNdjson } from "../src";

/** The naive model: the nesting depth of a parsed value, arrays and objects counted. */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === "object") return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

/** Strings full of what a scanner can trip on: quotes, backslashes, brackets. */
const tricky = fc.string({ unit: fc.constantFrom("\\", '"', "[", "]", "{", "}", "a", "é", "\n", "\\\\"), maxLength: 12 });
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("array"), tie("object")),
  leaf: fc.oneof(fc.jsonValue({ maxDepth: 0 }), tricky),
  array: fc.array(tie("node"), { maxLength: 3 }),
  object: fc.dictionary(tricky, tie("node"), { maxKeys: 3 }),
})).node;

test("nestsDeeperThan agrees with the depth of the parsed value, for any JSON text, compact or spaced", () => {
  fc.assert(
    fc.property(value, fc.integer({ min: 0, max: 8 }), fc.boolean(), (v, limit, spaced) => {
      const text = JSON.stringify(v, null, spaced ? 2 : undefined);
      expect(nestsDeeperThan(text, limit)).toBe(depthOf(v) > limit);
    }),
    { numRuns: 3_000 },
  );
});

test("a nesting exactly at the limit passes; one level more does not", () => {
  const nested = (n: number) => "[".repeat(n) + "]".repeat(n);
  expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
  expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
  expect(nestsDeeperThan(`{"a":${nested(20_000)}}`, MAX_JSON_DEPTH)).toBe(true);
  // Brackets inside strings are not structure, escaped quotes do not end a string.
  expect(nestsDeeperThan(JSON.stringify("[".repeat(500) + '\\"' + "{".repeat(500)), 1)).toBe(false);
});

test("an NDJSON line nested too deep is a problem of that line, named with the limit", () => {
  const deep = `{"id":"e","x":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
  let error: unknown;
  try {
    parseNdjson(`{"id":"a"}\n${deep}\n`);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidBatchError);
  expect((error as InvalidBatchError).problems).toEqual([{ line: 2, field: "(line)", reason: `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels, the most the ledger reads` }]);
});
