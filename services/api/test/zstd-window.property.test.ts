import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { Decompress } from "fzstd";
import { expect, test } from "vitest";

// fzstd as patched (patches/fzstd@0.1.1.patch): at most maxWindow bytes of history, slid by
// whole blocks. Checked against the zstd command line's own frames.

const zstd = (data: Buffer, args: string[]) => execFileSync("zstd", ["-q", "-c", ...args], { input: data, maxBuffer: 64 << 20 });

function decode(frame: Buffer, maxWindow: number | undefined, chunk: number): Buffer {
  const out: Buffer[] = [];
  const d = new Decompress((c) => out.push(Buffer.from(c)), maxWindow);
  for (let at = 0; at < frame.length; at += chunk) d.push(frame.subarray(at, at + chunk), at + chunk >= frame.length);
  if (frame.length === 0) d.push(new Uint8Array(0), true);
  return Buffer.concat(out);
}

/** Text that compresses with matches near and far: lines repeated from anywhere earlier. */
const corpus = fc
  .tuple(fc.array(fc.string({ minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1_000, max: 400_000 }), fc.integer())
  .map(([lines, length, seed]) => {
    let s = seed | 0;
    const parts: string[] = [];
    let size = 0;
    while (size < length) {
      s = (Math.imul(s, 1_103_515_245) + 12_345) | 0;
      const line = `${lines[(s >>> 8) % lines.length]} ${(s >>> 4) % 997}\n`;
      parts.push(line);
      size += line.length;
    }
    return Buffer.from(parts.join(""));
  });
const settings = fc.constantFrom(["-1"], ["-3"], ["-19"], ["-3", "--long=27"], ["--zstd=wlog=10"], ["--zstd=wlog=12,slog=6"], ["-3", "--no-check"], ["--ultra", "-20"]);

test("decoding with the history bounded gives the same bytes, whatever the frame's window and the chunking", () => {
  fc.assert(
    fc.property(corpus, settings, fc.integer({ min: 1, max: 70_000 }), fc.integer({ min: 0, max: 3 }), (data, args, chunk, bound) => {
      const frame = zstd(data, args);
      // Unbounded, bounded by the output's size or more: exactly the data.
      const maxWindow = [undefined, data.length, data.length + 1 + chunk, 5 << 20][bound];
      expect(decode(frame, maxWindow, chunk).equals(data)).toBe(true);
    }),
    { numRuns: 60 },
  );
});

test("an output cut at the bound is right up to it, however far back the frame refers", () => {
  fc.assert(
    fc.property(corpus, settings, fc.integer({ min: 1, max: 70_000 }), fc.integer({ min: 1_024, max: 200_000 }), (data, args, chunk, maxWindow) => {
      const decoded = decode(zstd(data, args), maxWindow, chunk);
      const upTo = Math.min(maxWindow, data.length);
      expect(decoded.subarray(0, upTo).equals(data.subarray(0, upTo))).toBe(true);
    }),
    { numRuns: 60 },
  );
});

test("a frame that declares a 2 GiB window allocates the bound, not the window", () => {
  // Frame header: magic, descriptor (no single segment, no checksum), window 2^31; then one raw
  // block of 4 bytes that is the last.
  const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (31 - 10) << 3, (4 << 3) | 1, 0, 0, 0x5b, 0x31, 0x32, 0x5d]);
  const before = process.memoryUsage().arrayBuffers;
  const kept: Uint8Array[] = [];
  const d = new Decompress((c) => kept.push(c), 64 * 1024);
  d.push(frame, true);
  expect(Buffer.concat(kept).toString()).toBe("[12]");
  // The decoder is still referenced here: its history is what this measures.
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  expect(d).toBeDefined();
});

test("a block larger than the format allows is refused, not written past the history", () => {
  // A raw block that says 200,000 bytes (the format's maximum is 128 KiB).
  const size = 200_000;
  const frame = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (20 - 10) << 3, ((size << 3) | 1) & 0xff, (size >> 5) & 0xff, (size >> 13) & 0xff]), Buffer.alloc(size, 32)]);
  expect(() => decode(frame, 5 << 20, 65_536)).toThrow(/invalid zstd data/);
});
