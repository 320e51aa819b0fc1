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
  expect((await res.json()).error).toMatch(/trace_id shared is a trace of another workspace; a key writes runs of its own workspace.s traces only/);
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

test("fuzz: random runs through POST /runs, /runs/batch and PATCH never crash the server; a refused one publishes nothing", async () => {
  // Runs near the valid shape, each field replaced now and then by something of the wrong kind.
  const weird = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 10 }), fc.constant("2024-13-45T99:00:00Z"), fc.constant("x'; DROP TABLE runs_v1; --"), fc.json().map((j) => JSON.parse(j) as unknown));
  const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: weird });
  const id = fc.constantFrom("z1", "z2", "z3");
  const aRun = fc.record(
    {
      id: field(id),
      trace_id: field(id),
      parent_run_id: field(id),
      dotted_order: field(fc.constant("20240101T000000000000Zz1")),
      name: field(fc.constant("fuzz")),
      run_type: field(fc.constantFrom("chain", "llm", "tool")),
      start_time: field(fc.constant("2024-06-01T00:00:00Z")),
      end_time: field(fc.constant("2024-06-01T00:00:01Z")),
      session_name: field(fc.constantFrom("default", "other")),
      inputs: field(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 }), { maxKeys: 3 })),
      outputs: field(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 }), { maxKeys: 3 })),
      extra: field(fc.constant({ metadata: { k: 1 } })),
    },
    { requiredKeys: [] },
  );
  const request = fc.oneof(
    aRun.map((r) => ({ method: "POST", path: "/runs", body: r as unknown })),
    fc.record({ post: fc.array(aRun, { maxLength: 3 }), patch: fc.array(aRun, { maxLength: 3 }) }, { requiredKeys: [] }).map((b) => ({ method: "POST", path: "/runs/batch", body: b as unknown })),
    fc.tuple(id, aRun).map(([runId, r]) => ({ method: "PATCH", path: `/runs/${runId}`, body: r as unknown })),
    fc.oneof(weird, fc.array(weird, { maxLength: 3 })).map((b) => ({ method: "POST", path: "/runs/batch", body: b })),
  );
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const before = await publishedCount(stack);
      const res = await fetch(`${stack.url}${r.path}`, { method: r.method, headers: { "x-api-key": key, "content-type": "application/json" }, body: JSON.stringify(r.body) });
      expect([202, 400, 403, 404]).toContain(res.status);
      const answer = await res.json();
      if (res.status !== 202) {
        expect(typeof answer.error).toBe("string");
        // A sentence naming the field, not a validator's stock phrase.
        expect(answer.error).not.toMatch(/Invalid input|expected \w+, received/);
        expect(await publishedCount(stack)).toBe(before);
      }
    }),
    { numRuns: 150 },
  );
  expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
});
