import fc from "fast-check";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { describe, expect, it } from "vitest";
import { LedgerPartitioner, partitionOfKey } from "../src/partitioner";

/** kafkajs's own default partitioner: the reference every key must land as before on. */
const reference = Partitioners.DefaultPartitioner();
const metadataOf = (partitions: number): PartitionMetadata[] =>
  Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 }));
const referencePartition = (key: string | Buffer, partitions: number) => reference({ topic: "t", partitionMetadata: metadataOf(partitions), message: { key, value: null } });

describe("LedgerPartitioner", () => {
  it("places every string key where kafkajs's default partitioner does (murmur2, as Java's client)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 100 }), fc.string({ unit: "binary", maxLength: 200 })), fc.integer({ min: 1, max: 64 }), (key, partitions) => {
        expect(partitionOfKey(key, partitions)).toBe(referencePartition(key, partitions));
      }),
      { numRuns: 5_000 },
    );
  });

  it("places byte keys the same way, of every length (the tail of one to three bytes included)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1_000 }), fc.integer({ min: 1, max: 64 }), (bytes, partitions) => {
        const key = Buffer.from(bytes);
        expect(partitionOfKey(key, partitions)).toBe(referencePartition(key, partitions));
      }),
      { numRuns: 2_000 },
    );
  });

  it("places the ledger's own keys as before: an organization and a trace", () => {
    const keys = Array.from({ length: 2_000 }, (_, i) => `org-${i % 10}\u0000trace-${i}-${(i * 2654435761) % 1e9}`);
    for (const key of keys) expect(partitionOfKey(key, 8)).toBe(referencePartition(key, 8));
    // Not one partition for all: a hash that ignored its input would pass the checks above only by luck.
    expect(new Set(keys.map((k) => partitionOfKey(k, 8))).size).toBe(8);
  });

  it("keeps a message's own partition, and spreads keyless messages over partitions with a leader", () => {
    const place = LedgerPartitioner();
    const metadata = metadataOf(4).map((p) => (p.partitionId === 2 ? { ...p, leader: -1 } : p));
    expect(place({ topic: "t", partitionMetadata: metadata, message: { key: "k", value: null, partition: 3 } })).toBe(3);
    const keyless = Array.from({ length: 30 }, () => place({ topic: "t", partitionMetadata: metadata, message: { value: "v" } }));
    expect(new Set(keyless)).toEqual(new Set([0, 1, 3]));
  });
});
