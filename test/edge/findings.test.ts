import { execFileSync } from "node:child_process";
import { createGzip } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MAX_JSON_DEPTH } from "@ledger/events";
import { rawExchange, requestHeldOpen, startEdgeLedger, type EdgeLedger } from "../support/edge";
import { SERVE_PLATFORM_KEY } from "../support/serve-process";

// The attacks of the API's edge, each reproduced against `ledger serve` as a process (its
// ingest thread included, default limits), then the workspace and organization matrix of every
// LangSmith and ledger route. docs/security.md says what each checks.
let ledger: EdgeLedger;
const keys: Record<"prod" | "dev" | "beta", string> = { prod: "", dev: "", beta: "" };
const REQUEST_TIMEOUT_MS = 3_000;
beforeAll(async () => {
  ledger = await startEdgeLedger("edge", { LEDGER_INGEST_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
  await ledger.api.org("acme", { plan: "plus", payment_method: true });
  await ledger.api.org("beta", { plan: "plus", payment_method: true });
  keys.prod = (await ledger.api.key("acme", "prod")).key;
  keys.dev = (await ledger.api.key("acme", "dev")).key;
  keys.beta = (await ledger.api.key("beta", "main")).key;
}, 120_000);
afterAll(async () => {
  await ledger?.stop();
});

const iso = (ms: number) => new Date(ms).toISOString();
const run = (id: string, extra: Record<string, unknown> = {}) => ({ id, trace_id: id, name: "root", run_type: "chain", start_time: iso(Date.now() - 60_000), session_name: "p", ...extra });
type Answer = { status: number; headers: Headers; body: Record<string, any> };
async function call(method: string, path: string, key: string | null, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${ledger.url}${path}`, { method, headers: { ...(key ? { "x-api-key": key } : {}), ...headers }, ...(body !== undefined ? { body: typeof body === "string" ? body : new Uint8Array(body) } : {}) });
  const text = await res.text();
  let parsed: Record<string, any> = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
const json = (method: string, path: string, key: string | null, value: unknown) => call(method, path, key, JSON.stringify(value), { "content-type": "application/json" });
/** A multipart body as the SDK writes one: each part a JSON file. */
function multipart(parts: [string, string][]): { body: string; headers: Record<string, string> } {
  const b = "edgeboundary";
  const body = parts.map(([name, value]) => `--${b}\r\nContent-Disposition: form-data; name="${name}"; filename="blob"\r\nContent-Type: application/json\r\n\r\n${value}\r\n`).join("") + `--${b}--\r\n`;
  return { body, headers: { "content-type": `multipart/form-data; boundary=${b}` } };
}
const sendParts = (key: string | null, parts: [string, string][]) => {
  const m = multipart(parts);
  return call("POST", "/runs/multipart", key, m.body, m.headers);
};

/** The request changed nothing: no message on any topic, no event counted as accepted. */
async function unchanged<T>(work: () => Promise<T>): Promise<T> {
  const before = { published: await ledger.published(), counters: await ledger.counters() };
  const result = await work();
  expect(await ledger.published()).toBe(before.published);
  expect((await ledger.counters()).accepted).toBe(before.counters.accepted);
  return result;
}

describe("bodies", () => {
  test("a gzip bomb refused mid-body, its client holding the connection past the request timeout, stops nothing", async () => {
    // 64 MiB of white space inside an array: about 64 KB gzip'd, far past the 5 MiB limit decoded.
    const gz = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const z = createGzip({ level: 6 });
      z.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks)));
      z.write("[");
      const spaces = Buffer.alloc(1 << 20, 32);
      for (let i = 0; i < 64; i++) z.write(spaces);
      z.end("]");
    });
    const sent = Date.now();
    const answer = await unchanged(() =>
      // No key, as in the report; half the body sent, the rest never.
      requestHeldOpen(ledger.url, `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`, gz.subarray(0, gz.length >> 1), REQUEST_TIMEOUT_MS + 2_000),
    );
    expect(answer).toMatch(/^HTTP\/1.1 413/);
    expect(answer).toContain("before or after decompression");
    // The body's timer would have fired by now: the refused body must have taken it along.
    await new Promise((r) => setTimeout(r, sent + REQUEST_TIMEOUT_MS + 1_000 - Date.now()));
    expect(await ledger.healthy()).toBe(true);
    expect(ledger.serve.output()).not.toMatch(/fatal/);
    // And the whole bomb, sent at once: 413 as well.
    expect((await unchanged(() => call("POST", "/v1/events", keys.prod, gz, { "content-type": "application/json", "content-encoding": "gzip" }))).status).toBe(413);
    expect((await json("POST", "/v1/events", SERVE_PLATFORM_KEY, [])).status).toBe(202);
  });

  test("a body over the limit, sent whole, is answered 413 and read to its end: its client reads the answer and the connection serves the next request", async () => {
    const body = Buffer.from(`[${" ".repeat(6 << 20)}]`);
    const head = `POST /v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: ${SERVE_PLATFORM_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const next = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const answer = await rawExchange(ledger.url, Buffer.concat([Buffer.from(head, "latin1"), body, Buffer.from(next, "latin1")]), 5_000);
    expect(answer).toMatch(/^HTTP\/1.1 413/);
    expect(answer).toContain("before or after decompression");
    expect(answer).toMatch(/HTTP\/1.1 200 OK[\s\S]*\{"status":"ok"\}/);
  });

  test("zstd frames that declare 1 and 2 GiB windows decode in the body limit's memory, without stalling the API", async () => {
    const payload = Buffer.from(`[${" ".repeat(4_000_000)}]`);
    const long = execFileSync("zstd", ["-q", "-c", "-3", "--long=30"], { input: payload, maxBuffer: 64 << 20 });
    expect(long[5]! >> 3).toBe(30 - 10); // the frame declares a 1 GiB window
    const rssBefore = ledger.rssMb();
    let slowest = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const started = Date.now();
        expect(await ledger.healthy()).toBe(true);
        slowest = Math.max(slowest, Date.now() - started);
      }
    })();
    for (let i = 0; i < 3; i++) {
      const res = await call("POST", "/v1/events", SERVE_PLATFORM_KEY, long, { "content-type": "application/json", "content-encoding": "zstd" });
      expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: { accepted: 0 } });
    }
    polling = false;
    await poll;
    expect(slowest).toBeLessThan(1_000);
    expect(ledger.rssMb() - rssBefore).toBeLessThan(300);
    // A 2 GiB window (one raw block holding "[]"): read as any frame, not an internal error.
    const twoGiB = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (31 - 10) << 3, (2 << 3) | 1, 0, 0, 0x5b, 0x5d]);
    const res = await call("POST", "/v1/events", SERVE_PLATFORM_KEY, twoGiB, { "content-type": "application/json", "content-encoding": "zstd" });
    expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: { accepted: 0 } });
  });

  test("a zstd body of a million one-byte blocks is refused at once, not decoded block by block", async () => {
    const blocks = 1_000_000;
    const frame = Buffer.alloc(6 + blocks * 4);
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (20 - 10) << 3]).copy(frame);
    for (let i = 0; i < blocks; i++) frame.set([(1 << 3) | (i === blocks - 1 ? 1 : 0), 0, 0, 0x20], 6 + i * 4);
    const res = await unchanged(() => call("POST", "/v1/events", SERVE_PLATFORM_KEY, frame, { "content-type": "application/json", "content-encoding": "zstd" }));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/the zstd body has more than 5120 blocks/);
    expect(await ledger.healthy()).toBe(true);
  });

  test(`input nested 20,000 deep is a 400 naming the limit (${MAX_JSON_DEPTH}) on every route that reads JSON`, async () => {
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    const deepRun = (id: string) => `{"id":"${id}","trace_id":"${id}","name":"r","run_type":"chain","start_time":"${iso(Date.now())}","inputs":${deep}}`;
    const cases: [string, Promise<Answer>][] = [
      ["POST /runs", call("POST", "/runs", keys.prod, deepRun("deep-1"), { "content-type": "application/json" })],
      ["POST /runs/batch", call("POST", "/runs/batch", keys.prod, `{"post":[${deepRun("deep-2")}]}`, { "content-type": "application/json" })],
      ["PATCH /runs/{id}", call("PATCH", "/runs/deep-3", keys.prod, `{"outputs":${deep}}`, { "content-type": "application/json" })],
      ["multipart run", sendParts(keys.prod, [["post.deep-4", deepRun("deep-4")]])],
      ["multipart field", sendParts(keys.prod, [["post.deep-5", JSON.stringify(run("deep-5"))], ["post.deep-5.inputs", deep]])],
      ["POST /feedback", call("POST", "/feedback", keys.prod, `{"id":"f-deep","run_id":"r","trace_id":"t","value":${deep}}`, { "content-type": "application/json" })],
      ["POST /v1/events", call("POST", "/v1/events", SERVE_PLATFORM_KEY, `[${deep}]`, { "content-type": "application/json" })],
      ["PUT /v1/admin/orgs", call("PUT", "/v1/admin/orgs/deep", SERVE_PLATFORM_KEY, `{"plan":${deep}}`, { "content-type": "application/json" })],
    ];
    const before = await ledger.published();
    for (const [what, pending] of cases) {
      const res = await pending;
      expect({ what, status: res.status, error: res.body.error }).toEqual({ what, status: 400, error: expect.stringContaining(`deeper than ${MAX_JSON_DEPTH} levels`) });
    }
    expect(await ledger.published()).toBe(before);
    expect((await ledger.counters()).failures).toBe(0);
  });
});

describe("workspaces", () => {
  const prodRun = "prod-run-1";
  const prodChild = "prod-child-1";
  beforeAll(async () => {
    expect((await json("POST", "/runs", keys.prod, run(prodRun, { inputs: { secret: "prod's" } }))).status).toBe(202);
    expect((await json("POST", "/runs", keys.prod, { ...run(prodChild), trace_id: prodRun, parent_run_id: prodRun })).status).toBe(202);
  });

  test("another workspace's run answers exactly as a run that does not exist: feedback, queues, multipart feedback", async () => {
    const same = (a: Answer, b: Answer) => expect({ status: a.status, error: a.body.error.replaceAll(prodRun, "X") }).toEqual({ status: b.status, error: b.body.error.replaceAll("no-such-run", "X") });
    await unchanged(async () => {
      same(await json("POST", "/feedback", keys.dev, { id: "fb-dev-1", run_id: prodRun }), await json("POST", "/feedback", keys.dev, { id: "fb-dev-1", run_id: "no-such-run" }));
      same(await json("POST", "/annotation-queues/q1/runs", keys.dev, [prodRun]), await json("POST", "/annotation-queues/q1/runs", keys.dev, ["no-such-run"]));
      same(await json("POST", "/annotation-queues/q1/runs/by-key", keys.dev, [{ run_id: prodRun }]), await json("POST", "/annotation-queues/q1/runs/by-key", keys.dev, [{ run_id: "no-such-run" }]));
      same(await sendParts(keys.dev, [["feedback.fb-dev-2", JSON.stringify({ run_id: prodRun })]]), await sendParts(keys.dev, [["feedback.fb-dev-2", JSON.stringify({ run_id: "no-such-run" })]]));
      // Naming prod's trace does not help.
      const named = await json("POST", "/feedback", keys.dev, { id: "fb-dev-3", run_id: prodRun, trace_id: prodRun });
      expect(named.status).toBe(404);
      // Another organization's key: the same.
      same(await json("POST", "/feedback", keys.beta, { id: "fb-beta-1", run_id: prodRun }), await json("POST", "/feedback", keys.beta, { id: "fb-beta-1", run_id: "no-such-run" }));
    });
    expect((await json("POST", "/feedback", keys.prod, { id: "fb-prod-1", run_id: prodChild })).status).toBe(200);
  });

  test("an update of another workspace's run is kept with nothing, as one of a run never seen: no row under the other key, nothing served", async () => {
    const patch = { parent_run_id: prodRun, outputs: { injected: "by dev" }, end_time: iso(Date.now()) };
    const foreign = await json("PATCH", `/runs/${prodChild}`, keys.dev, patch);
    const unknown = await json("PATCH", "/runs/never-posted-run", keys.dev, patch);
    expect({ status: foreign.status, body: foreign.body }).toEqual({ status: unknown.status, body: unknown.body });
    // Posting into prod's trace is refused outright, and says nothing of whose it is.
    const intrude = await json("POST", "/runs", keys.dev, { ...run("dev-intruder"), trace_id: prodRun, parent_run_id: prodRun });
    expect(intrude.status).toBe(403);
    expect(intrude.body.error).not.toMatch(/workspace "?prod/);
    await ledger.drained();
    expect((await call("GET", `/runs/${prodChild}`, keys.dev)).status).toBe(404);
    const prodView = await call("GET", `/runs/${prodChild}`, keys.prod);
    expect(prodView.status).toBe(200);
    expect(prodView.body.outputs).toBeUndefined();
    expect((await call("GET", `/runs/${prodRun}`, keys.beta)).status).toBe(404);
  });

  test("a workspace key's /v1/events cannot trigger another workspace's trace", async () => {
    const trigger = { id: "dev-trigger-1", type: "rule-matched", occurred_at: iso(Date.now()), org_id: "acme", workspace_id: "dev", trace_id: prodRun, run_id: prodRun, rule_id: "r1" };
    const res = await unchanged(() => json("POST", "/v1/events", keys.dev, [trigger]));
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(/^event 0: trace_id prod-run-1 is a trace of another workspace/);
    // Its own traces it may.
    const own = { id: "dev-created-1", type: "trace-created", occurred_at: iso(Date.now()), org_id: "acme", workspace_id: "dev", trace_id: "dev-trace-1", project_id: "p", retention: "base" };
    expect((await json("POST", "/v1/events", keys.dev, [own])).status).toBe(202);
    expect((await json("POST", "/v1/events", keys.prod, [{ ...trigger, id: "prod-on-dev", workspace_id: "prod", trace_id: "dev-trace-1" }])).status).toBe(403);
  });

  test("the matrix: who may read, write, queue, give feedback and update, on every LangSmith and ledger route", async () => {
    type Who = "prod" | "dev" | "beta" | "platform" | "none";
    const keyOf = (who: Who) => (who === "none" ? null : who === "platform" ? SERVE_PLATFORM_KEY : keys[who]);
    const created = (who: Who) => [{ id: `m-${who}`, type: "trace-created", occurred_at: iso(Date.now()), org_id: "acme", workspace_id: "prod", trace_id: `m-trace-${who}`, project_id: "p", retention: "base" }];
    const acmeRead = { prod: 200, dev: 200, beta: 403, platform: 200, none: 401 };
    const prodRunOnly = { prod: 200, dev: 404, beta: 404, platform: 403, none: 401 };
    const rows: [string, (who: Who) => Promise<Answer>, Record<Who, number>][] = [
      ["GET /runs/{prod's run}", (who) => call("GET", `/runs/${prodRun}`, keyOf(who)), prodRunOnly],
      ["POST /feedback on prod's run", (who) => json("POST", "/feedback", keyOf(who), { id: `fb-m-${who}`, run_id: prodRun }), prodRunOnly],
      ["POST /annotation-queues/{q}/runs", (who) => json("POST", "/annotation-queues/qm/runs", keyOf(who), [prodRun]), prodRunOnly],
      ["POST /annotation-queues/{q}/runs/by-key", (who) => json("POST", "/api/v1/annotation-queues/qm/runs/by-key", keyOf(who), [{ run_id: prodRun }]), prodRunOnly],
      ["multipart feedback part", (who) => sendParts(keyOf(who), [[`feedback.fb-mp-${who}`, JSON.stringify({ run_id: prodRun })]]), { prod: 202, dev: 404, beta: 404, platform: 403, none: 401 }],
      // beta's trace of the same id is its own: organizations never share a trace.
      ["POST /runs into prod's trace", (who) => json("POST", "/runs", keyOf(who), { ...run(`m-child-${who}`), trace_id: prodRun, parent_run_id: prodRun }), { prod: 202, dev: 403, beta: 202, platform: 403, none: 401 }],
      ["PATCH /runs/{prod's run}", (who) => json("PATCH", `/runs/${prodChild}`, keyOf(who), { outputs: { by: who } }), { prod: 202, dev: 202, beta: 202, platform: 403, none: 401 }],
      ["POST /v1/events for acme/prod", (who) => json("POST", "/v1/events", keyOf(who), created(who)), { prod: 202, dev: 403, beta: 403, platform: 202, none: 401 }],
      ["GET /v1/usage?org=acme", (who) => call("GET", "/v1/usage?org=acme", keyOf(who)), acmeRead],
      ["GET /v1/usage/daily?org=acme", (who) => call("GET", "/v1/usage/daily?org=acme", keyOf(who)), acmeRead],
      ["GET /v1/limits?org=acme", (who) => call("GET", "/v1/limits?org=acme", keyOf(who)), acmeRead],
      ["GET /v1/invoices/acme", (who) => call("GET", "/v1/invoices/acme", keyOf(who)), acmeRead],
      ["GET /v1/invoices/acme/2024-06", (who) => call("GET", "/v1/invoices/acme/2024-06", keyOf(who)), acmeRead],
      ["GET /v1/admin/keys?org=acme", (who) => call("GET", "/v1/admin/keys?org=acme", keyOf(who)), { prod: 403, dev: 403, beta: 403, platform: 200, none: 401 }],
      ["PUT /v1/admin/orgs/acme/workspaces/prod", (who) => json("PUT", "/v1/admin/orgs/acme/workspaces/prod", keyOf(who), {}), { prod: 403, dev: 403, beta: 403, platform: 200, none: 401 }],
    ];
    await ledger.drained(); // prod's runs are stored, so that GET /runs finds them
    const got: Record<string, Record<Who, number>> = {};
    const want: Record<string, Record<Who, number>> = {};
    for (const [what, request, expected] of rows) {
      want[what] = expected;
      got[what] = {} as Record<Who, number>;
      for (const who of ["prod", "dev", "beta", "platform", "none"] as Who[]) got[what]![who] = (await request(who)).status;
    }
    expect(got).toEqual(want);
    // The updates dev and beta sent are kept with nothing: prod's run is as prod left it.
    await ledger.drained();
    expect((await call("GET", `/runs/${prodChild}`, keys.prod)).body.outputs).toEqual({ by: "prod" });
  });

  test("nothing dev or beta sent was billed to prod", async () => {
    await ledger.drained();
    const rows = (await call("GET", "/v1/usage?org=acme&by=workspace", SERVE_PLATFORM_KEY)).body.rows as { workspace_id: string; base_traces: number; extended_upgrades: number }[];
    // prod: its run's trace, upgraded once by its own feedback, and the matrix's two creations
    // (its key's and the platform's); dev: its own trace.
    expect(rows.map((r) => [r.workspace_id, r.base_traces, r.extended_upgrades])).toEqual([
      ["dev", 1, 0],
      ["prod", 3, 1],
    ]);
    expect((await call("GET", "/v1/usage?org=beta", SERVE_PLATFORM_KEY)).body.rows).toEqual([]);
  });
});

describe("query parameters", () => {
  test("a parameter given twice or as an array is a 400 sentence on every route, before anything is read", async () => {
    const cases: [string, string][] = [
      [keys.prod, "/v1/usage?org=beta&org=acme"],
      [keys.prod, "/v1/usage?org[]=beta"],
      [keys.prod, "/v1/usage?org[0]=beta"],
      [keys.prod, "/v1/usage/daily?org=acme&org=beta"],
      [keys.prod, "/v1/limits?workspace=a&workspace=b"],
      [keys.prod, "/v1/invoices/acme/2024-06?format=csv&format=json"],
      [SERVE_PLATFORM_KEY, "/v1/admin/keys?org=acme&org=beta"],
      [SERVE_PLATFORM_KEY, "/v1/admin/limits?org[]=acme"],
      [keys.prod, "/info?a=1&a=2"],
      [keys.prod, "/runs/prod-run-1?x=1&x=2"],
    ];
    for (const [key, path] of cases) {
      const res = await call("GET", path, key);
      expect({ path, status: res.status, error: res.body.error }).toEqual({ path, status: 400, error: expect.stringMatching(/^query parameter \S+ (is given 2 times; give it once|is not a parameter: give each one once, as name=value)$/) });
    }
  });

  test("bad values answer sentences naming the parameter, from serve's thread as in process", async () => {
    const cases: [string, RegExp][] = [
      ["/v1/usage?from=2024-13", /^bad query parameters: from must be a period YYYY-MM$/],
      ["/v1/usage?to=soon&by=planet", /^bad query parameters: to must be a period YYYY-MM; by must be org or workspace$/],
      ["/v1/usage?colour=red", /^bad query parameters: colour is not a parameter of \/v1\/usage$/],
      ["/v1/usage/daily?days=31", /^bad query parameters: days must be 30, 60 or 90$/],
      ["/v1/usage/daily?through=2024-02-30", /^bad query parameters: through must be a day YYYY-MM-DD$/],
    ];
    for (const [path, error] of cases) {
      const res = await call("GET", path, keys.prod);
      expect({ path, status: res.status, error: res.body.error }).toEqual({ path, status: 400, error: expect.stringMatching(error) });
    }
  });
});

describe("multipart", () => {
  test("a feedback part whose JSON carries another id, and a run sent twice in one body with different contents, are refused", async () => {
    await unchanged(async () => {
      const other = await sendParts(keys.prod, [["feedback.fb-a", JSON.stringify({ id: "fb-b", run_id: "prod-run-1" })]]);
      expect(other.status).toBe(400);
      expect(other.body.error).toBe('part "feedback.fb-a" carries id "fb-b"; a part\'s id is the one in its name; nothing was published');
      const twice = await sendParts(keys.prod, [
        ["post.twice-1", JSON.stringify(run("twice-1", { name: "first" }))],
        ["post.twice-1", JSON.stringify(run("twice-1", { name: "second" }))],
      ]);
      expect(twice.status).toBe(400);
      expect(twice.body.error).toMatch(/^part "post\.twice-1" appears twice in one body with different contents/);
      const fieldTwice = await sendParts(keys.prod, [
        ["post.twice-2", JSON.stringify(run("twice-2"))],
        ["post.twice-2.inputs", "{}"],
        ["post.twice-2.inputs", '{"a":1}'],
      ]);
      expect(fieldTwice.status).toBe(400);
    });
  });
});


describe("found by the fuzz suite", () => {
  test("POST /runs/multipart with a JSON body is a 400 sentence, not a 500", async () => {
    const res = await unchanged(() => call("POST", "/runs/multipart", keys.prod, "--fz--\r\n", { "content-type": "application/json" }));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^not a multipart body: Content-Type must be multipart\/form-data with a boundary/);
    expect((await ledger.counters()).failures).toBe(0);
  });
});
