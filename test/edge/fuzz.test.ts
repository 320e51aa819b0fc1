import { execFileSync } from "node:child_process";
import { request as httpRequest } from "node:http";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { rawExchange, startEdgeLedger, type EdgeLedger } from "../support/edge";
import { SERVE_PLATFORM_KEY } from "../support/serve-process";

// The API's edge under random and adversarial requests, against `ledger serve` as a process:
// bodies, encodings, headers, parameters and keys for every route. After each case: the process
// is alive and /healthz answers within a second; a refused request published nothing and counted
// nothing (every topic's offsets, the accepted-events counter, every limit's count); no answer
// is a 5xx but a retriable 503 with Retry-After. docs/security.md says what this covers.
const MAX_BYTES = 64 * 1024;
let ledger: EdgeLedger;
const keys: Record<string, string> = {};
beforeAll(async () => {
  ledger = await startEdgeLedger("fuzz", { LEDGER_INGEST_MAX_BYTES: String(MAX_BYTES), LEDGER_INGEST_MAX_EVENTS: "50", LEDGER_INGEST_REQUEST_TIMEOUT_MS: "2000" });
  await ledger.api.org("acme", { plan: "plus", payment_method: true });
  await ledger.api.org("beta", { plan: "developer" });
  await ledger.api.workspace("acme", "prod", { all_traces_limit: 40, extended_traces_limit: 5 });
  keys.prod = (await ledger.api.key("acme", "prod")).key;
  keys.dev = (await ledger.api.key("acme", "dev")).key;
  keys.beta = (await ledger.api.key("beta", "main")).key;
  const revoked = await ledger.api.key("acme", "prod");
  await ledger.api.admin("POST", `/v1/admin/keys/${revoked.key_id}/revoke`);
  keys.revoked = revoked.key;
  keys.platform = SERVE_PLATFORM_KEY;
  keys.bogus = `lsv2_sk_${"x".repeat(43)}`;
  // A few runs that exist, for feedback, queues, updates and reads to find.
  for (const id of ["r1", "r2"]) {
    const res = await fetch(`${ledger.url}/runs`, { method: "POST", headers: { "x-api-key": keys.prod, "content-type": "application/json" }, body: JSON.stringify(aRun(id)) });
    expect(res.status).toBe(202);
  }
}, 120_000);
afterAll(async () => {
  await ledger?.stop();
});

const now = () => new Date().toISOString();
function aRun(id: string): Record<string, unknown> {
  return { id, trace_id: id, name: "r", run_type: "chain", start_time: now(), session_name: "p", inputs: { q: id } };
}

// ---- what a request is made of ----------------------------------------------------------------

const ident = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("acme", "beta", "prod", "dev", "main", "r1", "r2", "t1", "q1", "2024-06", "2026-11", "1") },
  fc.string({ maxLength: 12 }),
  fc.constantFrom("..", "%2e%2e", "a%2Fb", "%00", "x".repeat(300), "'; DROP TABLE x; --", "__proto__", "constructor", "é", "%ZZ"),
);
const route = fc.oneof(
  fc.constantFrom(
    ["POST", "/v1/events"], ["GET", "/v1/usage"], ["GET", "/v1/usage/daily"], ["GET", "/v1/limits"],
    ["GET", "/v1/admin/catalogue"], ["POST", "/v1/admin/catalogue"], ["POST", "/v1/admin/keys"], ["GET", "/v1/admin/keys"],
    ["GET", "/v1/admin/limits"], ["GET", "/v1/admin/account-events"], ["POST", "/v1/admin/counter-members"],
    ["POST", "/v1/admin/retained-run-parts"], ["POST", "/v1/admin/sql"], ["GET", "/info"], ["GET", "/api/v1/info"],
    ["POST", "/runs"], ["POST", "/api/v1/runs"], ["POST", "/runs/multipart"], ["POST", "/api/v1/runs/multipart"], ["POST", "/runs/batch"],
    ["POST", "/feedback"], ["POST", "/api/v1/feedback"], ["GET", "/usage"], ["GET", "/usage/usage.js"], ["GET", "/healthz"], ["GET", "/readyz"], ["GET", "/metrics"],
    ["DELETE", "/v1/events"], ["GET", "/runs/batch"], ["OPTIONS", "/runs"],
  ),
  fc.tuple(fc.constantFrom("GET", "PATCH", "POST"), ident).map(([m, id]) => [m, `/runs/${id}`]),
  fc.tuple(ident, fc.boolean()).map(([q, byKey]) => ["POST", `/annotation-queues/${q}/runs${byKey ? "/by-key" : ""}`]),
  fc.tuple(ident, ident, fc.integer({ min: 0, max: 3 }), ident).map(([org, period, kind, n]) => ["GET", [`/v1/invoices/${org}`, `/v1/invoices/${org}/${period}`, `/v1/invoices/${org}/${period}/lines/${n}/sources`, `/v1/admin/export/${period}`][kind]!]),
  fc.tuple(ident, ident, ident, fc.integer({ min: 0, max: 3 })).map(([org, ws, p, kind]) => [kind === 3 ? "POST" : "PUT", [`/v1/admin/orgs/${org}`, `/v1/admin/orgs/${org}/workspaces/${ws}`, `/v1/admin/orgs/${org}/workspaces/${ws}/projects/${p}`, `/v1/admin/keys/${p}/revoke`][kind]!]),
  // Closing a month is refused for one not over; with `wait` it would hold the case for minutes.
  ident.map((period) => ["POST", `/v1/admin/periods/${period}/close`]),
  fc.constantFrom("/usage/../../etc/passwd", "/usage/%2e%2e/%2e%2e/etc/passwd", "//v1/usage", "/v1/usage/", "/v1//usage", "/%", "/v1/usage%00").map((p) => ["GET", p]),
) as fc.Arbitrary<[string, string]>;

const query = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom("org", "org[]", "org[0]", "workspace", "from", "to", "by", "days", "through", "format", "dataset", "x"), fc.string({ maxLength: 6 })), fc.oneof(ident, fc.constantFrom("2024-13", "2024-06", "90", "31", "csv", "parquet", "workspace", "2024-02-30"))),
  { maxLength: 4 },
).map((pairs) => (pairs.length === 0 ? "" : `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&")}`));

const weird = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 10 }), fc.constant("2024-13-45T99:00:00Z"), fc.jsonValue({ maxDepth: 2 }));
const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: weird });
const event = fc.record(
  {
    id: field(fc.constantFrom("e1", "e2", "e3")),
    type: field(fc.constantFrom("trace-created", "feedback-added", "queue-added", "rule-matched", "seat-added", "deployment-run")),
    occurred_at: field(fc.constant("2024-06-30T23:59:59Z")),
    org_id: field(fc.constantFrom("acme", "beta")),
    workspace_id: field(fc.constantFrom("prod", "dev", "main")),
    trace_id: field(fc.constantFrom("t1", "t2", "r1")),
    project_id: field(fc.constant("p")),
    retention: field(fc.constantFrom("base", "extended")),
    run_id: field(fc.constantFrom("r1", "r2")),
    feedback_id: field(fc.constant("f1")),
    rule_id: field(fc.constant("rule")),
  },
  { requiredKeys: [] },
);
const run = fc.record(
  {
    id: field(fc.constantFrom("r1", "r2", "r3")),
    trace_id: field(fc.constantFrom("r1", "r2", "r3")),
    parent_run_id: field(fc.constantFrom("r1", "r2")),
    start_time: field(fc.constant("2024-06-01T00:00:00Z")),
    session_name: field(fc.constantFrom("p", "q")),
    inputs: field(fc.jsonValue({ maxDepth: 3 })),
    outputs: field(fc.jsonValue({ maxDepth: 3 })),
  },
  { requiredKeys: [] },
);
const feedback = fc.record({ id: field(fc.constantFrom("f1", "f2")), run_id: field(fc.constantFrom("r1", "r2", "r9")), trace_id: field(fc.constantFrom("r1", "r2", "t9")), score: field(fc.double()) }, { requiredKeys: [] });
const nested = fc.integer({ min: 90, max: 130 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`);

type Body = { bytes: Buffer; contentType?: string };
const asJson = (v: unknown) => ({ bytes: Buffer.from(JSON.stringify(v)), contentType: "application/json" });
const multipartOf = (parts: [string, string][], boundary = "fz") => ({
  bytes: Buffer.from(parts.map(([n, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${n}"; filename="blob"\r\nContent-Type: application/json\r\n\r\n${v}\r\n`).join("") + `--${boundary}--\r\n`),
  contentType: `multipart/form-data; boundary=${boundary}`,
});
const partName = fc.oneof(fc.constantFrom("post.r3", "patch.r1", "post.r3.inputs", "post.r3.outputs", "feedback.f3", "attachment.r3.file", "post.r1", "feedback.f3"), fc.string({ maxLength: 12 }));
const body: fc.Arbitrary<Body> = fc.oneof(
  fc.array(event, { maxLength: 4 }).map(asJson),
  fc.array(event, { maxLength: 4 }).map((es) => ({ bytes: Buffer.from(es.map((e) => JSON.stringify(e)).join("\n")), contentType: "application/x-ndjson" })),
  run.map(asJson),
  fc.record({ post: fc.array(run, { maxLength: 3 }), patch: fc.array(run, { maxLength: 3 }) }, { requiredKeys: [] }).map(asJson),
  feedback.map(asJson),
  fc.array(fc.constantFrom("r1", "r2", "r9"), { maxLength: 3 }).map(asJson),
  fc.array(fc.tuple(partName, fc.oneof(run.map((r) => JSON.stringify(r)), feedback.map((f) => JSON.stringify(f)), fc.json(), nested, fc.string({ maxLength: 20 }))), { maxLength: 6 }).map((parts) => multipartOf(parts)),
  fc.record({ plan: field(fc.constantFrom("plus", "developer", "enterprise")), payment_method: field(fc.boolean()), kind: field(fc.constantFrom("service", "personal")), org_id: field(fc.constant("acme")), workspace_id: field(fc.constant("prod")), query: field(fc.constantFrom("SELECT 1", "SELECT count() FROM ledger.billing_usage_v1", "DROP TABLE ledger.trace_events_v1")), wait: field(fc.constant(false)) }, { requiredKeys: [] }).map(asJson),
  fc.json().map((j) => ({ bytes: Buffer.from(j), contentType: "application/json" })),
  nested.map((n) => ({ bytes: Buffer.from(`[{"id":"e","x":${n}}]`), contentType: "application/json" })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ bytes: Buffer.from(b) })),
  fc.constantFrom("\uFEFF[]", '{"__proto__":{"x":1}}', '[{"id":"a","id":"b"}]', "[" + " ".repeat(MAX_BYTES) + "]", "").map((t) => ({ bytes: Buffer.from(t), contentType: "application/json" })),
);
const contentType = fc.constantFrom(undefined, "application/json", "application/x-ndjson", "multipart/form-data; boundary=fz", "multipart/form-data", "text/plain", "application/json; charset=utf-16", "application/x-www-form-urlencoded");
const zstdOf = (b: Buffer, args: string[] = []) => execFileSync("zstd", ["-q", "-c", ...args], { input: b });
const encoding = fc.constantFrom<[string, (b: Buffer) => Buffer] | null>(
  null,
  ["gzip", (b) => gzipSync(b)],
  ["deflate", (b) => deflateSync(b)],
  ["br", (b) => brotliCompressSync(b)],
  ["zstd", (b) => zstdOf(b)],
  ["zstd", (b) => zstdOf(b, ["--long=30"])],
  ["gzip, zstd", (b) => zstdOf(gzipSync(b))],
  ["gzip", (b) => b], // not gzip at all
  ["zstd", (b) => b.subarray(0, Math.max(0, b.length - 3))],
  ["gzip", () => gzipSync(Buffer.alloc(MAX_BYTES * 20, 32))], // expands past the limit
  ["lzma", (b) => b],
);
const headers = fc.record(
  { tenant: fc.constantFrom("prod", "dev", "other"), bearer: fc.boolean(), extraHeader: fc.constantFrom(["x-forwarded-for", "1.2.3.4"], ["accept-encoding", "zstd"], ["expect", "100-continue"], ["content-language", "de"]) },
  { requiredKeys: [] },
);
const key = fc.constantFrom("none", "bogus", "revoked", "platform", "prod", "dev", "beta");

const httpCase = fc.record({ route, query, body, contentType, encoding, headers, key, overrideType: fc.boolean() });

// ---- what is checked after each ---------------------------------------------------------------

type Snapshot = { published: bigint; accepted: number; limits: Map<string, number> };
async function snapshot(): Promise<Snapshot> {
  const limits = new Map<string, number>();
  for (const org of ["acme", "beta"]) {
    const res = await fetch(`${ledger.url}/v1/admin/limits?org=${org}`, { headers: { "x-api-key": SERVE_PLATFORM_KEY } });
    const body = (await res.json()) as { limits: { limit: string; workspace_id?: string; key_id?: string; current: number }[] };
    for (const l of body.limits) limits.set(`${org}/${l.limit}/${l.workspace_id ?? ""}/${l.key_id ?? ""}`, l.current);
  }
  return { published: await ledger.published(), accepted: (await ledger.counters()).accepted, limits };
}

async function checkAfter(what: string, status: number, retryAfter: string | null, before: Snapshot): Promise<void> {
  expect(await ledger.healthy(), `${what}: serve alive, /healthz within 1 s`).toBe(true);
  if (status >= 500) {
    expect({ what, status, retryAfter }, `no 5xx but a retriable 503\n${failuresLogged()}`).toEqual({ what, status: 503, retryAfter: expect.any(String) });
  }
  if (status < 400) return;
  const after = await snapshot();
  expect(after.published, `${what} (${status}) published nothing`).toBe(before.published);
  expect(after.accepted, `${what} (${status}) accepted nothing`).toBe(before.accepted);
  // Windows may end between the two readings (counts fall); a refused request adds to none.
  for (const [limit, current] of after.limits) expect(current, `${what} (${status}) counted toward ${limit}`).toBeLessThanOrEqual(before.limits.get(limit) ?? 0);
}

test("fuzz: random and adversarial HTTP requests to every route", async () => {
  await fc.assert(
    fc.asyncProperty(httpCase, async (c) => {
      const [method, path] = c.route;
      const raw = method === "GET" || method === "OPTIONS" ? null : c.body;
      const bytes = raw && c.encoding ? c.encoding[1](raw.bytes) : raw?.bytes;
      const h: Record<string, string> = {};
      const type = c.overrideType ? c.contentType : raw?.contentType;
      if (raw && type) h["content-type"] = type;
      if (raw && c.encoding) h["content-encoding"] = c.encoding[0];
      if (c.key !== "none") {
        if (c.headers.bearer) h.authorization = `Bearer ${keys[c.key]}`;
        else h["x-api-key"] = keys[c.key]!;
      }
      if (c.headers.tenant) h["x-tenant-id"] = c.headers.tenant;
      if (c.headers.extraHeader) h[c.headers.extraHeader[0]] = c.headers.extraHeader[1];
      const before = await snapshot();
      const what = `${method} ${path}${c.query} (${c.key}, ${h["content-type"] ?? "no type"}, ${h["content-encoding"] ?? "identity"})`;
      const res = await send(method, `${path}${c.query}`, h, bytes);
      if (res.status >= 400 && res.contentType.includes("json")) {
        // Every refusal is a sentence.
        expect(typeof (JSON.parse(res.text) as { error?: unknown }).error, `${what}: ${res.text}`).toBe("string");
      }
      await checkAfter(what, res.status, res.retryAfter, before);
    }),
    { numRuns: 300 },
  );
  expect((await ledger.counters()).failures, failuresLogged()).toBe(0);
});

/** What serve logged of the requests it failed (a 500 is logged with its stack). */
const failuresLogged = () => ledger.serve.output().split("\n").filter((l) => l.includes("ledger: api:")).join("\n");

/** One request with node:http (fetch refuses some headers a client may send, Expect among them). */
function send(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined): Promise<{ status: number; contentType: string; retryAfter: string | null; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${ledger.url}${path}`, { method, headers, timeout: 15_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, contentType: String(res.headers["content-type"] ?? ""), retryAfter: (res.headers["retry-after"] as string | undefined) ?? null, text }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to ${method} ${path} within 15 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

const rawCase = fc.record({
  method: fc.constantFrom("POST", "GET", "PATCH", "PUT", "BREW"),
  path: fc.constantFrom("/v1/events", "/runs/multipart", "/runs", "/feedback", "/v1/usage", "/info"),
  framing: fc.constantFrom("length", "short-length", "two-lengths", "chunked", "bad-chunk", "length-and-chunked", "none"),
  headerNoise: fc.array(fc.constantFrom("X-Api-Key: " + SERVE_PLATFORM_KEY, "Content-Type: application/json", "Content-Encoding: gzip", "Content-Type: multipart/form-data; boundary=b", "Transfer-Encoding: gzip", "Host:", "X-Long: " + "a".repeat(9_000), "Bad Header Line", "x-api-key: a\r\nx-api-key: b"), { maxLength: 3 }),
  body: fc.oneof(fc.string({ maxLength: 64 }), fc.constant("[]"), fc.constant('--b\r\nContent-Disposition: form-data; name="post.r9"\r\n\r\n{}\r\n--b--\r\n')),
});

test("fuzz: malformed HTTP framing on a raw socket", async () => {
  await fc.assert(
    fc.asyncProperty(rawCase, async (c) => {
      const body = Buffer.from(c.body);
      const framing: Record<string, string> = {
        length: `Content-Length: ${body.length}\r\n`,
        "short-length": `Content-Length: ${body.length + 10}\r\n`, // the rest never comes: the request timeout ends it
        "two-lengths": `Content-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\n`,
        chunked: "Transfer-Encoding: chunked\r\n",
        "bad-chunk": "Transfer-Encoding: chunked\r\n",
        "length-and-chunked": `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`,
        none: "",
      };
      const payload = c.framing === "chunked" || c.framing === "length-and-chunked" ? `${body.length.toString(16)}\r\n${c.body}\r\n0\r\n\r\n` : c.framing === "bad-chunk" ? `zz\r\n${c.body}\r\n` : c.body;
      // Connection: close, so that the exchange ends when the server is done with it.
      const head = `${c.method} ${c.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${c.headerNoise.map((l) => `${l}\r\n`).join("")}${framing[c.framing]}\r\n`;
      const before = await snapshot();
      const answer = await rawExchange(ledger.url, Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(payload)]), 4_000);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      // 0: the server closed without an answer (Node's parser refuses some framings so).
      await checkAfter(`${c.method} ${c.path} ${c.framing} [${c.headerNoise.join(" | ").slice(0, 80)}]`, status || 400, /retry-after/i.test(answer) ? "yes" : null, before);
    }),
    { numRuns: 60 },
  );
  expect((await ledger.counters()).failures, failuresLogged()).toBe(0);
});
