import type { ICustomPartitioner, PartitionerArgs } from "kafkajs";

const M = 0x5bd1e995;
const SEED = 0x9747b28c;
const scratch = { bytes: new Uint8Array(256) };
const encoder = new TextEncoder();

/** A string's UTF-8 bytes in a buffer reused from call to call (valid until the next call). */
function utf8Of(key: string): Uint8Array {
  // At most three bytes per UTF-16 unit; grow once for the rare long key.
  if (key.length * 3 > scratch.bytes.length) scratch.bytes = new Uint8Array(key.length * 3);
  const { written } = encoder.encodeInto(key, scratch.bytes);
  return scratch.bytes.subarray(0, written);
}

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which kafkajs's default partitioner
 * follows), in 32-bit integer arithmetic: kafkajs computes it with dozens of 64-bit `Long` objects
 * per key, on the ingest thread's hot path (docs/performance.md). Same result for every key (a property test checks it against
 * kafkajs's own), so messages land where they always did.
 */
export function murmur2(key: string | Uint8Array): number {
  const data = typeof key === "string" ? utf8Of(key) : key;
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2]! << 16;
    // falls through
    case 2:
      h ^= data[tail + 1]! << 8;
    // falls through
    case 1:
      h ^= data[tail]!;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a keyed message among `partitions`, as kafkajs's default partitioner places it. */
export const partitionOfKey = (key: string | Uint8Array, partitions: number): number => (murmur2(key) & 0x7fffffff) % partitions;

/**
 * kafkajs's default partitioner with the murmur2 above: a message's own partition if it has one,
 * else its key's, else round robin over the partitions that have a leader. One per producer and
 * one for the lag governor, which must place keys exactly where the producer will.
 */
export const LedgerPartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) return partitionOfKey(message.key, partitionMetadata.length);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    const next = ((counters.get(topic) ?? Math.floor(Math.random() * 2 ** 31)) + 1) & 0x7fffffff;
    counters.set(topic, next);
    return available.length > 0 ? available[next % available.length]!.partitionId : next % partitionMetadata.length;
  };
};
