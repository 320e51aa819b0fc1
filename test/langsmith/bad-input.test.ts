import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi, publishedCount } from "../support/ledger-api";

// Refusals of the LangSmith API: each a clear 4xx sentence, nothing published.
let stack: LedgerStack;
let key: string;
let otherKey: string;
const MAX = 256 * 1024;
beforeAll(async () => {
  stack = await freshStack({ label: "lsbad", ingest: { maxBytes: MAX } });
  const api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("bad", { plan: "plus", payment_method: true });
  key = (await api.key("bad", "a")).key;
  otherKey = (await api.key("bad", "b")).key;
});
afterAll(async () => {
  await stack?.stop();
});

const run = (id: string, extra: Record<string, unknown> = {}) => ({ id, trace_id: id, name: "r", run_type: "chain", start_time: new Date().toISOString(), session_name: "default", ...extra });
const send = (path: string, body: BodyInit, headers: Record<string, string> = {}, k = key) => fetch(`${stack.url}${path}`, { method: "POST", headers: { "x-api-key": k, ...headers }, body });
const form = (parts: [string, string][]) => {
  const f = new FormData();
  for (const [name, value] of parts) f.append(name, new Blob([value], { type: "application/json" }));
  return f;
};

test("malformed JSON and multipart, a nameless or unknown part, oversized and expanding bodies: 4xx sentences, nothing published", async () => {
  const before = await publishedCount(stack);
  const cases: [Promise<Response>, number, RegExp][] = [
    [send("/runs", "{nope", { "content-type": "application/json" }), 400, /body is not valid JSON/],
    [send("/runs", JSON.stringify({ name: "no id" }), { "content-type": "application/json" }), 400, /^run\.id is required/],
    [send("/api/v1/runs/batch", JSON.stringify({ post: [run("ok-1"), { ...run("x"), id: "bad id!" }] }), { "content-type": "application/json" }), 400, /post\.1\.id may contain only/],
    [send("/runs/multipart", "--b\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--b--\r\n", { "content-type": "multipart/form-data; boundary=b" }), 400, /a part has no name/],
    [send("/runs/multipart", form([["wat.1", "{}"]])), 400, /part "wat\.1" is not a part of a run batch/],
    [send("/runs/multipart", form([["post.r1", "{not json"]])), 400, /part "post\.r1" is not valid JSON/],
    [send("/runs/multipart", "garbage without boundaries", { "content-type": "multipart/form-data" }), 400, /multipart/],
    [send("/runs/multipart", form([["post.big", JSON.stringify(run("big", { inputs: "x".repeat(MAX) }))]])), 413, /larger than/],
    [send("/runs/batch", gzipSync(Buffer.from(JSON.stringify({ post: [run("bomb", { inputs: " ".repeat(MAX * 8) })] }))), { "content-type": "application/json", "content-encoding": "gzip" }), 413, /before or after decompression/],
    [send("/runs", JSON.stringify(run("t1")), { "content-type": "application/json", "x-tenant-id": "b" }), 403, /x-tenant-id names workspace "b"/],
    [send("/runs", JSON.stringify(run("t1")), { "content-type": "application/json" }, TEST_PLATFORM_KEY), 403, /takes a workspace API key/],
    [send("/feedback", JSON.stringify({ id: "f1", run_id: "never-seen" }), { "content-type": "application/json" }), 404, /run_id never-seen: no such run is known/],
    [send("/annotation-queues/q1/runs", JSON.stringify(["never-seen"]), { "content-type": "application/json" }), 404, /no such run is known/],
    [send("/runs", JSON.stringify(run("x';DROP TABLE runs;--")), { "content-type": "application/json" }), 400, /run\.id may contain only/],
  ];
  for (const [response, status, message] of cases) {
    const res = await response;
    const body = await res.json();
    expect({ status: res.status, error: body.error }).toMatchObject({ status, error: expect.stringMatching(message) });
  }
  expect(await publishedCount(stack)).toBe(before);
});

test("a run cannot join a trace of another workspace", async () => {
  expect((await send("/runs", JSON.stringify(run("shared")), { "content-type": "application/json" })).status).toBe(202);
  const before = await publishedCount(stack);
  const child = { ...run("intruder"), trace_id: "shared", parent_run_id: "shared" };
  const res = await send("/runs", JSON.stringify(child), { "content-type": "application/json" }, otherKey);
  expect(res.status).toBe(403);
  expect((await res.json()).error).toMatch(/trace_id shared belongs to workspace "a", not the key's \("b"\)/);
  expect(await publishedCount(stack)).toBe(before);
});

test("fuzz: random multipart bodies never crash the server, and a refused body publishes nothing", async () => {
  const part = fc.record({
    name: fc.oneof(fc.constantFrom("post.f1", "patch.f1", "post.f1.inputs", "feedback.x", "attachment.f1.a", "", "post", "post.f1.weird", null), fc.string({ maxLength: 12 })),
    value: fc.oneof(fc.json(), fc.string({ maxLength: 40 })),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(part, { maxLength: 5 }), fc.boolean(), async (parts, raw) => {
      const before = await publishedCount(stack);
      const body = raw
        ? `--zz\r\n${parts.map((p) => `Content-Disposition: form-data${p.name === null ? "" : `; name="${p.name}"`}\r\n\r\n${p.value}`).join("\r\n--zz\r\n")}\r\n--zz--\r\n`
        : form(parts.map((p) => [p.name ?? "", p.value]));
      const res = await send("/runs/multipart", body, raw ? { "content-type": "multipart/form-data; boundary=zz" } : {});
      expect([202, 400, 404, 413]).toContain(res.status);
      const answer = await res.json();
      if (res.status !== 202) {
        expect(typeof answer.error).toBe("string");
        expect(await publishedCount(stack)).toBe(before);
      }
    }),
    { numRuns: 60 },
  );
  expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
});
