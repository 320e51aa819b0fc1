import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Decompress } from "fzstd";
import { RequestError } from "./request-error";

/** `Content-Encoding`s the ingest API decodes, as `/info` advertises them. */
export const SUPPORTED_ENCODINGS = ["identity", "gzip", "x-gzip", "deflate", "br", "zstd"] as const;

/** A body the API cannot read: 415 for an unknown encoding, 400 for a corrupt one. */
export class BodyEncodingError extends RequestError {
  constructor(status: 400 | 415, message: string) {
    super(status, { error: message });
    this.name = "BodyEncodingError";
  }
}

/** A body larger than the limit, on the wire or decoded: 413, nothing published. */
export class BodyTooLargeError extends RequestError {
  constructor(readonly maxBytes: number) {
    super(413, { error: `request body is larger than ${maxBytes} bytes (before or after decompression); nothing was published; split it` });
    this.name = "BodyTooLargeError";
  }
}

/** A request body that did not arrive within the request timeout: 408, and the connection closed. */
export class BodyTimeoutError extends RequestError {
  override readonly retriable = true;
  constructor(readonly timeoutMs: number) {
    super(408, { error: `the request body did not arrive within ${timeoutMs} ms; nothing was published` });
    this.name = "BodyTimeoutError";
  }
}

/** The client closed the connection before its body arrived: nobody is left to answer. */
class BodyAbortedError extends RequestError {
  constructor() {
    super(400, { error: "the client closed the connection before its body arrived; nothing was published" });
    this.name = "BodyAbortedError";
  }
}

/**
 * At most this many zstd blocks per KiB of the body limit. The format's blocks hold up to 128
 * KiB and compressors fill them, so a real body has a few dozen; a body of millions of
 * one-byte blocks would cost the decoder per block, not per byte.
 */
const ZSTD_BLOCKS_PER_KIB = 1;

/**
 * zstd as a stream transform, on fzstd (pure JavaScript: Node 20's zlib has no zstd, and the
 * native bindings on npm either download prebuilt binaries or have no streaming interface).
 * fzstd is patched (patches/fzstd@0.1.1.patch) to keep at most `maxBytes` of history whatever
 * window a frame declares (an output cut at `maxBytes` never refers further back), and to slide
 * it by whole blocks. Output past the limit stops the decoder inside the chunk that made it.
 */
class ZstdDecoder extends Transform {
  private produced = 0;
  private blocks = 0;
  private readonly maxBlocks: number;
  private readonly zstd: Decompress;
  private out: Buffer[] = [];

  constructor(private readonly maxBytes: number) {
    super();
    this.maxBlocks = Math.max(64, Math.ceil(maxBytes / 1024) * ZSTD_BLOCKS_PER_KIB);
    this.zstd = new Decompress((chunk) => {
      // Thrown from inside the decoder: it stops where it is, mid-chunk.
      if (++this.blocks > this.maxBlocks) throw new BodyEncodingError(400, `the zstd body has more than ${this.maxBlocks} blocks (one per KiB of the ${this.maxBytes}-byte limit); compress the body as a whole`);
      this.produced += chunk.length;
      if (this.produced > this.maxBytes) throw new BodyTooLargeError(this.maxBytes);
      if (chunk.length > 0) this.out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }, maxBytes);
  }

  private decode(chunk: Uint8Array, final: boolean, done: TransformCallback): void {
    try {
      this.zstd.push(chunk, final);
    } catch (error) {
      this.out = [];
      return done(error instanceof RequestError ? error : new BodyEncodingError(400, `the body is not valid zstd: ${(error as Error).message}`));
    }
    const out = this.out;
    this.out = [];
    // One push per chunk received, however many blocks it held.
    if (out.length > 0) this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    done();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.decode(chunk, false, done);
  }

  override _flush(done: TransformCallback): void {
    this.decode(new Uint8Array(0), true, done);
  }
}

function decoderFor(encoding: string, maxBytes: number): Transform | null {
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
      return new ZstdDecoder(maxBytes);
    default:
      throw new BodyEncodingError(415, `Content-Encoding ${JSON.stringify(encoding)} is not supported; send one of ${SUPPORTED_ENCODINGS.join(", ")}`);
  }
}

/** Counts decoded bytes and refuses the body once they pass the limit, before passing them on. */
class BodyLimit extends Transform {
  /** Bytes that came over the wire: fastify compares them with `Content-Length`. */
  receivedEncodedLength = 0;
  private decoded = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.decoded += chunk.length;
    if (this.decoded > this.maxBytes) return done(new BodyTooLargeError(this.maxBytes));
    done(null, chunk);
  }
}

export interface BodyLimits {
  maxBytes: number;
  /** The whole body must have arrived within this, counted from the request's start. */
  timeoutMs: number;
}

/**
 * A request's body as the API reads it: decoded as a stream (each `Content-Encoding` in reverse
 * order), at most `maxBytes` on the wire and decoded, within `timeoutMs`. Every failure is this
 * request's: it reaches whoever reads the body, as a `RequestError`, and nothing else.
 *
 * The body lives as long as its request. Once the answer is sent while the body is still
 * arriving (a refusal, or a route that never read it), decoding stops and the rest is read off
 * the wire and dropped, so the client gets its answer; a client still sending when the timeout
 * passes is disconnected. A body whose reader gave up (destroyed it) stops decoding too.
 */
export function requestBody(request: IncomingMessage, response: ServerResponse, limits: BodyLimits): Readable {
  const header = request.headers["content-encoding"];
  const encodings = (Array.isArray(header) ? header.join(",") : (header ?? "")).trim().toLowerCase();
  // Applied in the order listed; decoded in reverse.
  const decoders = encodings === "" ? [] : encodings.split(",").map((e) => e.trim()).reverse().flatMap((e) => {
    const decoder = decoderFor(e, limits.maxBytes);
    return decoder ? [{ name: e, decoder }] : [];
  });
  const body = new BodyLimit(limits.maxBytes);
  // Whoever reads the body listens for its errors; an unread body's failure ends here.
  body.on("error", () => {});
  const stages: Transform[] = [...decoders.map((d) => d.decoder), body];

  let over = false; // decoding ended, failed or was abandoned
  /** Stops decoding for good; what still arrives is read and dropped (until the timeout). */
  const abandon = () => {
    if (over) return;
    over = true;
    request.unpipe(stages[0]);
    for (const stage of stages.slice(0, -1)) stage.destroy();
    request.resume();
  };
  const fail = (error: RequestError) => {
    if (over) return;
    abandon();
    body.destroy(error);
  };
  body.once("end", () => (over = true));
  body.once("close", abandon);
  response.once("close", abandon);

  const arriving = (request.headers["content-length"] !== undefined || request.headers["transfer-encoding"] !== undefined) && !request.complete;
  if (arriving) {
    const timer = setTimeout(() => {
      if (request.complete || request.destroyed) return;
      // Answered already and the client is still sending: no more waiting for it.
      if (response.headersSent) request.socket?.destroy();
      else fail(new BodyTimeoutError(limits.timeoutMs));
    }, limits.timeoutMs);
    timer.unref();
    request.once("end", () => clearTimeout(timer));
    request.once("close", () => {
      clearTimeout(timer);
      if (!request.complete) fail(new BodyAbortedError());
    });
  }

  request.on("data", (chunk: Buffer) => {
    body.receivedEncodedLength += chunk.length;
    if (body.receivedEncodedLength > limits.maxBytes) fail(new BodyTooLargeError(limits.maxBytes));
  });
  let upstream: Readable = request;
  for (const { name, decoder } of decoders) {
    decoder.on("error", (error: Error) => fail(error instanceof RequestError ? error : new BodyEncodingError(400, `the body is not valid ${name}: ${error.message}`)));
    upstream = upstream.pipe(decoder);
  }
  upstream.pipe(body);
  return body;
}
