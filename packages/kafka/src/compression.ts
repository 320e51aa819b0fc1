import { promisify } from "node:util";
import { constants, gzip, unzip } from "node:zlib";
import kafkajs from "kafkajs";

// Not a named export Node's ES module loader can see in kafkajs' CommonJS (CompressionTypes is).
const { CompressionCodecs, CompressionTypes } = kafkajs;

const gzipFast = promisify((input: Buffer, done: (error: Error | null, out: Buffer) => void) => gzip(input, { level: constants.Z_BEST_SPEED }, done));
const unzipAsync = promisify(unzip);

/**
 * How much the runs topic's record batches shrank lately (compressed bytes over the records'
 * bytes): the broker's window holds compressed batches, so the runs topic's byte budget counts
 * bytes at this ratio. The ratio follows a moving mean and a batch that compressed worse than it
 * counts at once (data that stops compressing is counted as such from its first batch on).
 */
export class CompressionRatio {
  private mean = 1;
  private last = 1;

  note(rawBytes: number, compressedBytes: number): void {
    if (rawBytes <= 0) return;
    this.last = Math.min(1, compressedBytes / rawBytes);
    this.mean += (this.last - this.mean) * 0.1;
  }

  get current(): number {
    return Math.max(this.mean, this.last);
  }
}

/** The ratio of every GZIP batch this process has compressed (only the runs topic's are). */
export const gzipRatio = new CompressionRatio();

/**
 * Kafka's GZIP codec at zlib's fastest level, in place of kafkajs' own (zlib's default level 6).
 * Both run on libuv's thread pool, off the event loop; level 1 costs about a third of level 6
 * and leaves run JSON about a fifth of its size. Batches from other producers, at any level,
 * decompress the same way.
 */
CompressionCodecs[CompressionTypes.GZIP] = () => ({
  async compress(encoder: { buffer: Buffer }) {
    const out = await gzipFast(encoder.buffer);
    gzipRatio.note(encoder.buffer.length, out.length);
    return out;
  },
  decompress: (buffer: Buffer) => unzipAsync(buffer),
});
