import type { IncomingMessage } from "node:http";
import { PassThrough, Transform, type Readable, type TransformCallback } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Decompress } from "fzstd";

/** `Content-Encoding`s the ingest API decodes, as `/info` advertises them. */
export const SUPPORTED_ENCODINGS = ["identity", "gzip", "x-gzip", "deflate", "br", "zstd"] as const;

/** A body the API cannot read: 415 for an unknown encoding, 400 for a corrupt one. */
export class BodyEncodingError extends Error {
  readonly retriable = false;
  constructor(
    readonly statusCode: 400 | 415,
    message: string,
  ) {
    super(message);
    this.name = "BodyEncodingError";
  }
}

/**
 * zstd as a stream transform, on fzstd (pure JavaScript: Node 20's zlib has no zstd, and the
 * native bindings on npm either download prebuilt binaries or have no streaming interface).
 */
class ZstdDecoder extends Transform {
  private readonly zstd = new Decompress((chunk) => this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.zstd.push(chunk);
      done();
    } catch (error) {
      done(error as Error);
    }
  }
  override _flush(done: TransformCallback): void {
    try {
      this.zstd.push(new Uint8Array(0), true);
      done();
    } catch (error) {
      done(error as Error);
    }
  }
}

function decoderFor(encoding: string): Transform | null {
  switch (encoding) {
    case "identity":
      return null;
    case "gzip":
    case "x-gzip":
      return createGunzip();
    case "deflate":
      return createInflate();
    case "br":
      return createBrotliDecompress();
    case "zstd":
      return new ZstdDecoder();
    default:
      throw new BodyEncodingError(415, `Content-Encoding ${JSON.stringify(encoding)} is not supported; send one of ${SUPPORTED_ENCODINGS.join(", ")}`);
  }
}

/**
 * The request body decoded as a stream, never buffered here. `receivedEncodedLength` tells
 * fastify how many bytes came over the wire, so its body limit holds both before and after
 * decompression (a small compressed body that expands past it gets 413, not a full buffer).
 */
export function decodedBody(contentEncoding: string | string[] | undefined, payload: Readable): Readable {
  const header = (Array.isArray(contentEncoding) ? contentEncoding.join(",") : (contentEncoding ?? "")).trim().toLowerCase();
  if (header === "") return payload;
  // Applied in the order listed; decoded in reverse.
  const decoders = header
    .split(",")
    .map((e) => e.trim())
    .reverse()
    .map((e) => [e, decoderFor(e)] as const)
    .filter((d): d is readonly [string, Transform] => d[1] !== null);
  if (decoders.length === 0) return payload;
  const out = new PassThrough() as PassThrough & { receivedEncodedLength: number };
  out.receivedEncodedLength = 0;
  payload.on("data", (chunk: Buffer) => (out.receivedEncodedLength += chunk.length));
  let stream: Readable = payload;
  for (const [name, decoder] of decoders) {
    decoder.on("error", (error: Error) => out.destroy(new BodyEncodingError(400, `the body is not valid ${name}: ${error.message}`)));
    stream = stream.pipe(decoder);
  }
  payload.on("error", (error) => out.destroy(error));
  stream.pipe(out);
  return out;
}

/** A request body that did not arrive within the request timeout: 408, and the connection closed. */
export class BodyTimeoutError extends Error {
  readonly retriable = true;
  readonly statusCode = 408;
  constructor(readonly timeoutMs: number) {
    super(`the request body did not arrive within ${timeoutMs} ms; nothing was published`);
    this.name = "BodyTimeoutError";
  }
}

/**
 * A body that must have arrived whole within `timeoutMs`, however slowly it trickles. Node's own
 * `requestTimeout` does this too, but measured 15–25 % fewer events/s in `pnpm bench` on large
 * batches; one timer per request that has a body costs nothing measurable. The error is emitted
 * on the body stream, so fastify's reader (or the multipart parser) stops and answers 408; a
 * request that arrived whole, or whose connection is gone, is left alone.
 */
export function bodyWithin(body: Readable, request: IncomingMessage, timeoutMs: number): Readable {
  const hasBody = request.headers["content-length"] !== undefined || request.headers["transfer-encoding"] !== undefined;
  if (!hasBody || request.complete) return body;
  const timer = setTimeout(() => {
    if (!request.complete && !request.destroyed && body.listenerCount("error") > 0) body.emit("error", new BodyTimeoutError(timeoutMs));
  }, timeoutMs);
  timer.unref();
  const clear = () => clearTimeout(timer);
  body.once("end", clear);
  request.once("end", clear);
  request.once("close", clear);
  return body;
}
