import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { publishedCount } from "../support/ledger-api";
import { ev } from "../support/pipeline";

// Streaming bodies: Content-Encoding, limits before and after decompression, slow clients.
let stack: LedgerStack;
const MAX = 64 * 1024;
beforeAll(async () => {
  stack = await freshStack({ label: "bodies", ingest: { maxBytes: MAX, requestTimeoutMs: 2_000 } });
});
afterAll(async () => {
  await stack?.stop();
});

const post = (body: Uint8Array | string, headers: Record<string, string>) =>
  fetch(`${stack.url}/v1/events`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": TEST_PLATFORM_KEY, ...headers }, body: typeof body === "string" ? body : new Uint8Array(body) });
const zstd = (data: Buffer) => execFileSync("zstd", ["-q", "-c"], { input: data });
const events = (org: string, n: number) => Array.from({ length: n }, (_, i) => ev.created(org, `t${i}`, "2024-06-01T00:00:00Z"));

describe("Content-Encoding", () => {
  test("gzip and zstd bodies, JSON and NDJSON, are decoded and accepted", async () => {
    const json = Buffer.from(JSON.stringify(events("gz", 3)));
    expect((await post(gzipSync(json), { "content-encoding": "gzip" })).status).toBe(202);
    const ndjson = Buffer.from(events("zs", 2).map((e) => JSON.stringify(e)).join("\n"));
    const res = await post(zstd(ndjson), { "content-encoding": "zstd", "content-type": "application/x-ndjson" });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2 });
  });

  test("an unknown encoding is 415, a corrupt body 400; nothing published", async () => {
    const before = await publishedCount(stack);
    const unknown = await post("[]", { "content-encoding": "lzma" });
    expect(unknown.status).toBe(415);
    expect((await unknown.json()).error).toMatch(/Content-Encoding "lzma" is not supported; send one of identity, gzip/);
    const corrupt = await post(Buffer.from("definitely not gzip"), { "content-encoding": "gzip" });
    expect(corrupt.status).toBe(400);
    expect((await corrupt.json()).error).toMatch(/the body is not valid gzip/);
    expect(await publishedCount(stack)).toBe(before);
  });

  test("the size limit holds before and after decompression: a small bomb is 413", async () => {
    const before = await publishedCount(stack);
    const bomb = gzipSync(Buffer.from(`[${" ".repeat(MAX * 4)}]`));
    expect(bomb.length).toBeLessThan(MAX);
    const res = await post(bomb, { "content-encoding": "gzip" });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/larger than 65536 bytes \(before or after decompression\); nothing was published/);
    const wire = await post(Buffer.alloc(MAX + 1, 32), {});
    expect(wire.status).toBe(413);
    expect(await publishedCount(stack)).toBe(before);
  });
});

test("a client that trickles its request is cut off (408), not held open", async () => {
  const url = new URL(stack.url!);
  const started = Date.now();
  const closed = await Promise.all(
    Array.from({ length: 60 }, () =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(url.port), url.hostname);
        let answer = "";
        socket.on("connect", () => {
          socket.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nx-api-key: ${TEST_PLATFORM_KEY}\r\n\r\n[`);
          const drip = setInterval(() => socket.writable && socket.write(" "), 500);
          socket.on("close", () => {
            clearInterval(drip);
            resolve(answer);
          });
        });
        socket.on("data", (d) => (answer += d.toString()));
        socket.on("error", () => {});
      }),
    ),
  );
  expect(Date.now() - started).toBeLessThan(10_000);
  // Each gets a readable 408 naming the timeout, then the connection is closed.
  for (const answer of closed) {
    expect(answer).toMatch(/^HTTP\/1.1 408/);
    expect(answer).toContain("did not arrive within 2000 ms");
  }
});

test("usage's bad parameters are answered with a sentence naming the parameter", async () => {
  const res = await fetch(`${stack.url}/v1/usage?from=2024-13&by=team`, { headers: { "x-api-key": TEST_PLATFORM_KEY } });
  expect(res.status).toBe(400);
  expect((await res.json()).error).toBe("bad query parameters: from must be a period YYYY-MM; by must be org or workspace");
});
