import { createRequire } from "node:module";
import fc from "fast-check";
import { expect, it } from "vitest";

// kafkajs's record batch checksum, as patched (patches/kafkajs@2.2.4.patch: slicing-by-8).
const require = createRequire(import.meta.url);
const crc32C = require(require.resolve("kafkajs").replace(/index\.js$/, "src/protocol/recordBatch/crc32C/crc32C.js")) as (buffer: Buffer) => number;

/** CRC-32C a bit at a time, from its definition (reflected polynomial 0x82f63b78): the reference. */
function referenceCrc32C(buffer: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of buffer) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

it("computes the standard CRC-32C check values", () => {
  expect(crc32C(Buffer.from("123456789"))).toBe(0xe3069283);
  expect(crc32C(Buffer.alloc(0))).toBe(0);
  expect(crc32C(Buffer.alloc(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  expect(crc32C(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43); // and of ones
});

it("property: the patched checksum equals the bitwise one for any bytes, at any offset and length", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 7 }), (bytes, offset) => {
      // A view into a larger buffer, as kafkajs's encoder hands it over.
      const buffer = Buffer.concat([Buffer.alloc(offset, 0xa5), Buffer.from(bytes)]).subarray(offset);
      expect(crc32C(buffer)).toBe(referenceCrc32C(bytes));
    }),
    { numRuns: 2_000 },
  );
});
