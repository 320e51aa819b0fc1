import { afterAll, beforeAll, expect, test } from "vitest";
import { queryUsage } from "@ledger/clickhouse";
import { ManualClock } from "@ledger/limits";
import type { LedgerStack } from "@ledger/stack";
import { RunRetention } from "@ledger/sink";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";

// §9: run data is served while its trace is retained (14 days base, 400 extended, an upgrade
// extending it) and deleted by ClickHouse's TTL; billing rows stay.
let stack: LedgerStack;
let key: string;
let otherKey: string;
const DAY = 86_400_000;
// The ledger's clock: the runs of the first test arrive 15 days ago, as they would have.
const clock = new ManualClock(Date.now());
beforeAll(async () => {
  // The tests run the retention pass themselves, over everything written before it.
  stack = await freshStack({ label: "retain", ingest: true, clock, sink: { runRetentionMs: 3_600_000, runRetentionSettleMs: 0 } });
  const api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("keep", { plan: "plus", payment_method: true });
  await api.admin("PUT", "/v1/admin/orgs/keep/workspaces/w/projects/forever", { default_retention: "extended" });
  key = (await api.key("keep", "w")).key;
  otherKey = (await api.key("keep", "other")).key;
});
afterAll(async () => {
  await stack?.stop();
});

const iso = (ms: number) => new Date(ms).toISOString();
const send = (path: string, body: FormData | string, k = key, method = "POST") =>
  fetch(`${stack.url}${path}`, { method, headers: { "x-api-key": k, ...(typeof body === "string" ? { "content-type": "application/json" } : {}) }, body });
const getRun = async (id: string, k = key) => {
  const res = await fetch(`${stack.url}/api/v1/runs/${id}`, { headers: { "x-api-key": k } });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};
const rows = async (traceId: string) => {
  const rs = await stack.clickhouse.client.query({
    query: `SELECT run_id, part, toString(expires_at) AS expires_at FROM ${stack.clickhouse.table("runs_v1")} WHERE trace_id = {t:String} ORDER BY run_id, part, expires_at`,
    query_params: { t: traceId },
    format: "JSONEachRow",
  });
  return (await rs.json()) as { run_id: string; part: string; expires_at: string }[];
};

test("a base trace of 15 days ago is gone, an upgraded one of the same age is served; billing rows of both remain", async () => {
  const now = Date.now();
  const old = now - 15 * DAY;
  // The base trace's runs arrived 15 days ago, by the ledger's clock; ClickHouse's TTL runs on
  // real time, so they are due for deletion now.
  clock.set(old);
  let form = new FormData();
  const part = (name: string, value: unknown) => form.append(name, new Blob([JSON.stringify(value)], { type: "application/json" }));
  const trace = (id: string) => {
    part(`post.${id}`, { id, trace_id: id, name: "root", run_type: "chain", start_time: iso(old), session_name: "p" });
    part(`post.${id}.inputs`, { question: `why ${id}` });
    part(`post.${id}-child`, { id: `${id}-child`, trace_id: id, parent_run_id: id, name: "llm", run_type: "llm", start_time: iso(old + 1_000), session_name: "p" });
  };
  trace("old-base");
  expect((await send("/runs/multipart", form)).status).toBe(202);
  // The upgraded trace of the same age: its runs and its feedback of day 1 arrive now (late).
  // Rows are kept at least a day after they arrive, so the upgrade meets them.
  clock.set(now);
  form = new FormData();
  trace("old-upgraded");
  part("post.recent", { id: "recent", trace_id: "recent", name: "root", run_type: "chain", start_time: iso(now - 13 * DAY), session_name: "p" });
  part("post.fresh", { id: "fresh", trace_id: "fresh", name: "root", run_type: "chain", start_time: iso(now), session_name: "p" });
  part("post.fresh.inputs", { q: 1 });
  form.append("attachment.fresh.notes", new Blob([Buffer.from([0, 1, 2, 250])], { type: "application/octet-stream" }), "notes.bin");
  part("post.kept", { id: "kept", trace_id: "kept", name: "root", run_type: "chain", start_time: iso(old), session_name: "forever" });
  expect((await send("/runs/multipart", form)).status).toBe(202);
  // The end of a run arrives later, as the SDK sends it; feedback within the 14 days upgrades.
  expect((await send("/runs/fresh", JSON.stringify({ trace_id: "fresh", end_time: iso(now + 5), outputs: { a: 42 } }), key, "PATCH")).status).toBe(202);
  expect((await send("/feedback", JSON.stringify({ id: "fb-1", run_id: "old-upgraded-child", key: "score", score: 1, created_at: iso(old + DAY) }))).status).toBe(200);
  await stack.waitUntilDrained();
  await stack.keepUpgradedRuns(); // it also runs every 30 s by itself (not in these tests)

  // Served: the fresh run with its update laid over it and its attachment, the upgraded and the
  // extended-by-project traces; not served: the expired base trace, nor any run to another workspace.
  const fresh = await getRun("fresh");
  expect(fresh).toMatchObject({ status: 200, body: { id: "fresh" } });
  expect(fresh.body).toMatchObject({ id: "fresh", trace_id: "fresh", inputs: { q: 1 }, outputs: { a: 42 }, attachments: { notes: { size: 4, content_type: "application/octet-stream", content_base64: Buffer.from([0, 1, 2, 250]).toString("base64") } } });
  expect(Date.parse(fresh.body.retained_until) - now).toBeGreaterThan(13 * DAY);
  expect(Date.parse(fresh.body.retained_until) - now).toBeLessThan(15 * DAY);
  expect((await getRun("old-upgraded")).body).toMatchObject({ inputs: { question: "why old-upgraded" } });
  expect((await getRun("old-upgraded-child")).status).toBe(200);
  expect((await getRun("kept")).status).toBe(200);
  expect((await getRun("old-base")).status).toBe(404);
  expect((await getRun("old-base-child")).status).toBe(404);
  expect((await getRun("fresh", otherKey)).status).toBe(404);
  expect((await getRun("recent")).body.retained_until).toBe(iso(now - 13 * DAY + 14 * DAY));

  // Every part was published, a request's rows in one message (two multipart requests and the update); ClickHouse deleted the expired ones by
  // their TTL (on its own when the part was written, or at the latest at this forced merge),
  // and keeps the base trace of 13 days ago.
  const offsets = await stack.admin.fetchTopicOffsets(stack.topics.runs);
  expect(offsets.reduce((sum, o) => sum + Number(o.high), 0)).toBe(3);
  await stack.clickhouse.client.command({ query: `OPTIMIZE TABLE ${stack.clickhouse.table("runs_v1")} FINAL` });
  expect(await rows("old-base")).toEqual([]);
  expect((await rows("recent")).length).toBe(1);
  const upgraded = await rows("old-upgraded");
  expect(upgraded.map((r) => r.run_id)).toEqual(["old-upgraded", "old-upgraded-child"]);
  for (const r of upgraded) expect(Date.parse(`${r.expires_at.replace(" ", "T")}Z`)).toBe(old + 400 * DAY);
  expect((await rows("kept")).length).toBe(1);
  expect((await getRun("old-upgraded-child")).status).toBe(200);

  // R2: the billing rows of every trace remain: five traces, two of them extended.
  // The traces straddle a month boundary when the test runs early in a month: add the periods.
  const usage = await queryUsage(stack.clickhouse, { org: "keep" });
  expect({ base: usage.reduce((n, r) => n + r.base_traces, 0), upgrades: usage.reduce((n, r) => n + r.extended_upgrades, 0) }).toEqual({ base: 5, upgrades: 2 });
});

test("an upgrade arriving after the runs, and runs arriving after the upgrade, are both kept 400 days", async () => {
  const start = Date.now() - 2 * DAY;
  const run = (id: string, trace: string, parent?: string) => ({ id, trace_id: trace, ...(parent ? { parent_run_id: parent } : {}), name: "r", run_type: "chain", start_time: iso(start), session_name: "p" });
  expect((await send("/runs/batch", JSON.stringify({ post: [run("late", "late")] }))).status).toBe(202);
  await stack.waitUntilDrained();
  await stack.keepUpgradedRuns();
  expect((await send("/feedback", JSON.stringify({ id: "fb-late", run_id: "late" }))).status).toBe(200);
  await stack.waitUntilDrained();
  await stack.keepUpgradedRuns();
  expect((await send("/runs/batch", JSON.stringify({ post: [run("late-child", "late", "late")] }))).status).toBe(202);
  await stack.waitUntilDrained();
  await stack.keepUpgradedRuns();
  const latest = new Map<string, number>();
  for (const r of await rows("late")) latest.set(r.run_id, Math.max(latest.get(r.run_id) ?? 0, Date.parse(`${r.expires_at.replace(" ", "T")}Z`)));
  expect(Object.fromEntries(latest)).toEqual({ late: start + 400 * DAY, "late-child": start + 400 * DAY });
  expect((await getRun("late-child")).body.retained_until).toBe(iso(start + 400 * DAY));
});

test("each run of an upgraded trace is copied once, and only after its window has settled", async () => {
  const table = stack.clickhouse.table("runs_v1");
  // Copies of one run replace each other when their parts merge: without merges, every copy
  // made stays countable.
  await stack.clickhouse.client.command({ query: `SYSTEM STOP MERGES ${table}` });
  try {
    const start = Date.now() - DAY;
    const run = (id: string, parent?: string) => ({ id, trace_id: "once", ...(parent ? { parent_run_id: parent } : {}), name: "r", run_type: "chain", start_time: iso(start), session_name: "p" });
    /** Rows per run expiring 400 days after the trace's creation (its base rows expire after 14). */
    const copies = async () => {
      const counts: Record<string, number> = {};
      for (const r of await rows("once")) {
        counts[r.run_id] ??= 0;
        if (Date.parse(`${r.expires_at.replace(" ", "T")}Z`) === start + 400 * DAY) counts[r.run_id]!++;
      }
      return counts;
    };
    // The runs and their trace's upgrade land in the same window of the pass.
    expect((await send("/runs/batch", JSON.stringify({ post: [run("once"), run("once-child", "once")] }))).status).toBe(202);
    expect((await send("/feedback", JSON.stringify({ id: "fb-once", run_id: "once-child" }))).status).toBe(200);
    await stack.waitUntilDrained();
    // A pass looks only at rows older than its settle time: these are not, so nothing is copied.
    const unsettled = new RunRetention(stack.clickhouse, { intervalMs: 3_600_000, settleMs: 3_600_000 }, (error) => {
      throw error;
    });
    await unsettled.passNow();
    expect(await copies()).toEqual({ once: 0, "once-child": 0 });
    await stack.keepUpgradedRuns();
    expect(await copies()).toEqual({ once: 1, "once-child": 1 });
    // A run of the trace arriving after the upgrade's window: copied by the window that holds it.
    expect((await send("/runs/batch", JSON.stringify({ post: [run("once-late", "once")] }))).status).toBe(202);
    await stack.waitUntilDrained();
    await stack.keepUpgradedRuns();
    await stack.keepUpgradedRuns();
    await unsettled.passNow();
    expect(await copies()).toEqual({ once: 1, "once-child": 1, "once-late": 1 });
    expect((await getRun("once-late")).body.retained_until).toBe(iso(start + 400 * DAY));
  } finally {
    await stack.clickhouse.client.command({ query: `SYSTEM START MERGES ${table}` });
  }
});
