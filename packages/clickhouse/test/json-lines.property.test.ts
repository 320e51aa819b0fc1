import fc from "fast-check";
import { expect, test } from "vitest";
import { jsonLinesBytes } from "../src/client";

/** The reference: each line's bytes, then a newline. */
const naive = (lines: readonly (string | Uint8Array)[]) => Buffer.concat(lines.flatMap((l) => [typeof l === "string" ? Buffer.from(l) : Buffer.from(l), Buffer.from("\n")]));

test("property: the insert's bytes are every line followed by a newline, however the lines share buffers", () => {
  // Messages as Kafka hands them on: lines cut from one buffer at its newlines, or at other bytes,
  // taken whole, in part, out of order or mixed with text lines.
  const message = fc.array(fc.string({ unit: fc.constantFrom("a", "é", "{", "}", "\n", "\r", " "), maxLength: 12 }), { minLength: 1, maxLength: 5 }).map((texts) => {
    const value = Buffer.from(texts.join("\n"));
    const lines: Uint8Array[] = [];
    for (let start = 0; start <= value.length; ) {
      let end = value.indexOf(0x0a, start);
      if (end < 0) end = value.length;
      lines.push(value.subarray(start, end));
      start = end + 1;
    }
    return lines;
  });
  const item = fc.oneof(
    message,
    fc.string({ maxLength: 10 }).map((t) => [t]),
    message.chain((lines) => fc.shuffledSubarray(lines)),
    fc.tuple(fc.uint8Array({ minLength: 3, maxLength: 20 }), fc.nat(), fc.nat()).map(([bytes, a, b]) => {
      const buffer = Buffer.from(bytes);
      const cut = a % buffer.length;
      return [buffer.subarray(0, cut), buffer.subarray(cut + 1, cut + 1 + (b % (buffer.length - cut)))];
    }),
  );
  fc.assert(
    fc.property(fc.array(item, { maxLength: 6 }), (items) => {
      const lines = items.flat();
      expect(Buffer.compare(jsonLinesBytes(lines), naive(lines))).toBe(0);
    }),
    { numRuns: 10_000 },
  );
});
