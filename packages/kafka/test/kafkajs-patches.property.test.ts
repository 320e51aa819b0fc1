import { createRequire } from "node:module";
import fc from "fast-check";
import { expect, it } from "vitest";

// The two kafkajs changes of patches/kafkajs@2.2.4.patch besides the checksum (crc32c test).
const require = createRequire(import.meta.url);
const kafkajsFile = (path: string) => require(require.resolve("kafkajs").replace(/index\.js$/, path));

type Message = { key: string; value: string };
type Grouping = (args: { topic: string; partitionMetadata: unknown[]; messages: Message[]; partitioner: (a: { message: Message }) => number }) => Record<number, Message[]>;
const groupMessagesPerPartition = kafkajsFile("src/producer/groupMessagesPerPartition.js") as Grouping;

/** kafkajs's own grouping before the patch (a copy of the partition's array per message). */
const unpatchedGrouping: Grouping = ({ topic, partitionMetadata, messages, partitioner }) => {
  if (partitionMetadata.length === 0) return {};
  return messages.reduce<Record<number, Message[]>>((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message } as never);
    const current = result[partition] || [];
    return Object.assign(result, { [partition]: [...current, message] });
  }, {});
};

it("grouping a produce's messages in place gives the unpatched grouping: every partition's messages, in order", () => {
  fc.assert(
    fc.property(fc.array(fc.record({ key: fc.string({ maxLength: 4 }), value: fc.string({ maxLength: 4 }) }), { maxLength: 200 }), fc.integer({ min: 0, max: 8 }), (messages, partitions) => {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i }));
      const partitioner = ({ message }: { message: Message }) => (message.key.length * 31 + message.value.length) % Math.max(1, partitions);
      const args = { topic: "t", partitionMetadata, messages, partitioner };
      expect(groupMessagesPerPartition(args)).toEqual(unpatchedGrouping(args));
    }),
  );
});

type Encoder = { [op: string]: (...args: unknown[]) => Encoder } & { buffer: Buffer };
const EncoderClass = kafkajsFile("src/protocol/encoder.js") as new (initialSize?: number) => Encoder;

/** One write of kafkajs's encoder, as the protocol's requests make them. */
const write = fc.oneof(
  fc.integer({ min: -128, max: 127 }).map((v) => ["writeInt8", v] as const),
  fc.integer({ min: -32768, max: 32767 }).map((v) => ["writeInt16", v] as const),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => ["writeInt32", v] as const),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((v) => ["writeUInt32", v] as const),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => ["writeInt64", v] as const),
  fc.double({ noNaN: true }).map((v) => ["writeDouble", v] as const),
  fc.boolean().map((v) => ["writeBoolean", v] as const),
  fc.option(fc.string({ maxLength: 40 })).map((v) => ["writeString", v] as const),
  fc.option(fc.string({ maxLength: 40 })).map((v) => ["writeVarIntString", v] as const),
  fc.option(fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b))).map((v) => ["writeBytes", v] as const),
  fc.option(fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b))).map((v) => ["writeVarIntBytes", v] as const),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => ["writeVarInt", v] as const),
  fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((v) => ["writeUVarInt", v] as const),
);

/** Encodes `writes` with every buffer the encoder allocates unzeroed filled with `fill` first. */
function encodeWithMemory(writes: readonly (readonly [string, unknown])[], initialSize: number, fill: number): Buffer {
  const allocUnsafe = Buffer.allocUnsafe;
  Buffer.allocUnsafe = (size: number) => Buffer.alloc(size, fill);
  try {
    const encoder = new EncoderClass(initialSize);
    for (const [op, value] of writes) encoder[op]!(value);
    return Buffer.from(encoder.buffer);
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
}

it("an encoder's unzeroed buffers never reach its output: the bytes are the same whatever the memory held", () => {
  fc.assert(
    fc.property(fc.array(write, { maxLength: 60 }), fc.integer({ min: 1, max: 600 }), (writes, initialSize) => {
      // Zeroed memory is what kafkajs allocated before the patch.
      expect(encodeWithMemory(writes, initialSize, 0xab).equals(encodeWithMemory(writes, initialSize, 0))).toBe(true);
    }),
    { numRuns: 500 },
  );
});
