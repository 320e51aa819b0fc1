import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { runLedger } from "../support/cli";
import { ev } from "../support/pipeline";

// §4.1 through the pipeline: every extended upgrade of a month attributed to what caused it (a
// rule, a queue, feedback with or without its key, an extended creation), grouped and priced,
// against a naive count over the log; the LangSmith API's feedback brings its key.
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
const clock = { now: () => Date.parse("2024-06-28T12:00:00Z") };
beforeAll(async () => {
  stack = await freshStack({ label: "attribution", ingest: true, clock });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
});
afterAll(async () => {
  await stack?.stop();
});

const at = (day: number, hour = 10) => `2024-06-${String(day).padStart(2, "0")}T${String(hour).padStart(2, "0")}:00:00Z`;
const rule = (trace: string, id: string, day: number, ws = "prod") => ({ ...ev.rule("acme", trace, at(day, 11), { ws }), rule_id: id });
const queue = (trace: string, id: string, day: number) => ({ ...ev.queue("acme", trace, at(day, 11)), queue_id: id });
const feedback = (trace: string, key: string | undefined, day: number, hour = 11) => ({ ...ev.feedback("acme", trace, at(day, hour)), ...(key ? { feedback_key: key } : {}) });

test("a month's upgrades by cause, rule, queue, feedback key, project and workspace equal a naive count over the log; each group priced at the month's upgrade price", async () => {
  const log: Record<string, unknown>[] = [];
  const created = (trace: string, day: number, retention: "base" | "extended" = "base", ws = "prod", project = "p-1") => log.push({ ...ev.created("acme", trace, at(day), retention, { ws }), project_id: project });
  for (let i = 0; i < 5; i++) {
    created(`r${i}`, 2 + i);
    log.push(rule(`r${i}`, "r-12", 2 + i));
  }
  created("k1", 3);
  log.push(feedback("k1", "correctness", 3));
  created("k2", 4);
  log.push(feedback("k2", "correctness", 4), rule("k2", "r-12", 5)); // the feedback came first
  created("k3", 5);
  log.push(feedback("k3", undefined, 5));
  created("q1", 6, "base", "prod", "p-2");
  log.push(queue("q1", "q-1", 6), queue("q1", "q-2", 7));
  created("x1", 7, "extended", "prod", "p-ext");
  log.push(rule("x1", "r-12", 8)); // already extended: the creation is the cause
  created("d1", 8, "base", "dev");
  log.push(rule("d1", "r-99", 9, "dev"));
  created("plain", 9); // never upgraded
  created("e1", 1);
  log.push(rule("e1", "r-12", 2), queue("e1", "q-3", 20)); // the queue came after e1 expired (U4): r-12 alone upgraded it
  expect((await api.call("POST", "/v1/events", TEST_PLATFORM_KEY, log)).status).toBe(202);
  await stack.waitUntilDrained({ timeoutMs: 60_000 });

  // Naively: a trace created extended is upgraded by its creation, any other by its first trigger in log order.
  const causes = new Map<string, { cause: string; rule?: string; queue?: string; key?: string; project: string; ws: string }>();
  for (const e of log as { type: string; trace_id: string; retention?: string; rule_id?: string; queue_id?: string; feedback_key?: string; project_id?: string; workspace_id: string }[]) {
    const project = (log.find((c) => c.type === "trace-created" && c.trace_id === e.trace_id) as { project_id: string }).project_id;
    if (causes.has(e.trace_id)) continue;
    if (e.type === "trace-created" && e.retention === "extended") causes.set(e.trace_id, { cause: "extended creation", project, ws: e.workspace_id });
    if (e.type === "rule-matched") causes.set(e.trace_id, { cause: `rule:${e.rule_id}`, rule: e.rule_id, project, ws: e.workspace_id });
    if (e.type === "queue-added") causes.set(e.trace_id, { cause: `queue:${e.queue_id}`, queue: e.queue_id, project, ws: e.workspace_id });
    if (e.type === "feedback-added") causes.set(e.trace_id, { cause: e.feedback_key ? `feedback:${e.feedback_key}` : "feedback, key not given", key: e.feedback_key ?? "(key not given)", project, ws: e.workspace_id });
  }
  // Turning a source off saves a trace when no trigger of another source, before the trace
  // expires (14 days after its creation), would have upgraded it.
  type Logged = { type: string; trace_id: string; occurred_at: string; rule_id?: string; queue_id?: string; feedback_key?: string };
  const sourceOf = (e: Logged) => (e.type === "rule-matched" ? `rule:${e.rule_id}` : e.type === "queue-added" ? `queue:${e.queue_id}` : e.feedback_key ? `feedback:${e.feedback_key}` : "feedback, key not given");
  const soleFor = (trace: string, cause: string) => {
    const createdAt = Date.parse((log.find((c) => c.type === "trace-created" && c.trace_id === trace) as { occurred_at: string }).occurred_at);
    return !(log as Logged[]).some((e) => e.trace_id === trace && e.type !== "trace-created" && sourceOf(e) !== cause && Date.parse(e.occurred_at) < createdAt + 14 * 86_400_000);
  };
  const naive = (by: (c: typeof causes extends Map<string, infer V> ? V : never) => string | undefined, switchable: boolean) => {
    const counts = new Map<string, { n: number; sole: number | null }>();
    for (const [trace, c] of causes) {
      const g = by(c);
      if (g === undefined) continue;
      const canOff = switchable && c.cause !== "extended creation" && c.cause !== "feedback, key not given";
      const row = counts.get(g) ?? { n: 0, sole: canOff ? 0 : null };
      row.n += 1;
      if (row.sole !== null && soleFor(trace, c.cause)) row.sole += 1;
      counts.set(g, row);
    }
    return [...counts]
      .map(([group, r]) => ({ group, upgrades: r.n, cost_usd: usdOf(r.n * 4_500), sole_upgrades: r.sole, saving_usd: r.sole === null ? null : usdOf(r.sole * 4_500) }))
      .sort((a, b) => b.upgrades - a.upgrades || (a.group < b.group ? -1 : 1));
  };
  const read = async (by: string) => {
    const r = await api.call("GET", `/v1/usage/upgrades?org=acme&period=2024-06&by=${by}`, TEST_PLATFORM_KEY);
    expect(r.status).toBe(200);
    return r.body as { upgrades: number; cost_usd: string; unit_price_usd: string; rows: { group: string; upgrades: number; cost_usd: string }[] };
  };
  const byCause = await read("cause");
  expect(byCause.rows).toEqual(naive((c) => c.cause, true));
  // r-12 alone upgraded six traces (e1's queue came too late); correctness one of its two (k2
  // matched r-12 later); q-1 none (q1 was queued again to q-2).
  expect(byCause.rows.slice(0, 2)).toEqual([
    { group: "rule:r-12", upgrades: 6, cost_usd: "0.027", sole_upgrades: 6, saving_usd: "0.027" },
    { group: "feedback:correctness", upgrades: 2, cost_usd: "0.009", sole_upgrades: 1, saving_usd: "0.0045" },
  ]);
  expect(byCause.rows.find((r) => r.group === "queue:q-1")).toMatchObject({ sole_upgrades: 0, saving_usd: "0.00" });
  expect(byCause.rows.find((r) => r.group === "extended creation")).toMatchObject({ sole_upgrades: null, saving_usd: null });
  expect(byCause).toMatchObject({ upgrades: 12, cost_usd: "0.054", unit_price_usd: "0.0045" });
  expect((await read("rule")).rows).toEqual(naive((c) => c.rule, true));
  expect((await read("queue")).rows).toEqual(naive((c) => c.queue, true));
  expect((await read("feedback_key")).rows).toEqual(naive((c) => c.key, true));
  expect((await read("project")).rows).toEqual(naive((c) => c.project, false));
  expect((await read("workspace")).rows).toEqual(naive((c) => c.ws, false));
  // The total is the month's billed upgrades.
  const usage = (await api.call("GET", "/v1/usage?org=acme&from=2024-06&to=2024-06", TEST_PLATFORM_KEY)).body as { rows: { extended_upgrades: number }[] };
  expect(byCause.upgrades).toBe(usage.rows[0]!.extended_upgrades);

  // §4.3: the month's cost per workspace and per project, against a naive count of the log:
  // each trace's creation in its project and workspace, each upgrade in its trace's.
  type Created = { type: string; trace_id: string; workspace_id: string; project_id?: string };
  const creations = (log as Created[]).filter((e) => e.type === "trace-created");
  const naiveCosts = (key: (c: Created) => string) => {
    const groups = new Map<string, { base_traces: number; extended_upgrades: number }>();
    for (const c of creations) {
      const g = groups.get(key(c)) ?? { base_traces: 0, extended_upgrades: 0 };
      g.base_traces += 1;
      if (causes.has(c.trace_id)) g.extended_upgrades += 1;
      groups.set(key(c), g);
    }
    return [...groups]
      .map(([group, g]) => ({ group, ...g, list_usd: usdOf(g.base_traces * 500 + g.extended_upgrades * 4_500) }))
      .sort((a, b) => b.base_traces * 500 + b.extended_upgrades * 4_500 - (a.base_traces * 500 + a.extended_upgrades * 4_500) || (a.group < b.group ? -1 : 1));
  };
  for (const [by, key] of [["workspace", (c: Created) => c.workspace_id], ["project", (c: Created) => c.project_id!]] as const) {
    const costs = (await api.call("GET", `/v1/usage/costs?org=acme&period=2024-06&by=${by}`, TEST_PLATFORM_KEY)).body;
    expect(costs.rows).toEqual(naiveCosts(key));
    // The allotment (10,000 on Plus) covers every base trace: only the upgrades cost.
    if (by === "workspace") expect(costs.rows.map((r: { group: string; list_usd: string }) => [r.group, r.list_usd])).toEqual([["prod", "0.0555"], ["dev", "0.005"]]);
    expect(costs).toMatchObject({ by, allotment: { base_traces: creations.length, usd: `-${usdOf(creations.length * 500)}` }, usage_usd: usdOf(12 * 4_500) });
  }
  const badCosts = await api.call("GET", "/v1/usage/costs?org=acme&period=2024-06&by=team", TEST_PLATFORM_KEY);
  expect(badCosts.status).toBe(400);
  expect(badCosts.body.error).toBe("bad query parameters: by must be one of workspace, project");

  // The command line prints the same, largest first.
  const cli = await runLedger(["usage", "--org", "acme", "--by", "cause", "--period", "2024-06", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
  expect(cli.stderr).toBe("");
  expect(cli.stdout.split("\n").slice(0, 3)).toEqual([
    "Extended upgrades of acme in 2024-06 by cause ($0.0045 each)",
    expect.stringMatching(/^cause +upgrades +cost +saved if off$/),
    expect.stringMatching(/^rule:r-12 +6 +\$0\.027 +\$0\.027$/),
  ]);
  expect(cli.stdout).toContain("total: 12 upgrade(s), $0.054");

  // Bad parameters are sentences naming them.
  const bad = await api.call("GET", "/v1/usage/upgrades?org=acme&period=June&by=planet", TEST_PLATFORM_KEY);
  expect(bad.status).toBe(400);
  expect(bad.body.error).toBe("bad query parameters: period must be a period YYYY-MM; by must be one of cause, rule, queue, feedback_key, project, workspace");
});

test("the LangSmith API's feedback brings its key", async () => {
  const key = (await api.key("acme", "ls")).key;
  const run = "0190c1c0-0000-7000-8000-0000000000a1";
  const send = (path: string, body: unknown) => fetch(`${stack.url}${path}`, { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: JSON.stringify(body) });
  expect((await send("/runs", { id: run, trace_id: run, name: "r", run_type: "chain", start_time: at(20), session_name: "chat" })).status).toBe(202);
  expect((await send("/feedback", { id: "0190c1c0-0000-7000-8000-0000000000f9", run_id: run, trace_id: run, key: "helpfulness", score: 1, created_at: at(21) })).status).toBe(200);
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  const r = await api.call("GET", "/v1/usage/upgrades?org=acme&period=2024-06&by=feedback_key", TEST_PLATFORM_KEY);
  expect(r.body.rows).toContainEqual({ group: "helpfulness", upgrades: 1, cost_usd: "0.0045", sole_upgrades: 1, saving_usd: "0.0045" });
});

test("where the LangSmith API resolved the retention, which default made a trace extended: the project's or the workspace's", async () => {
  await api.workspace("acme", "lsw", { default_retention: "extended" });
  await api.admin("PUT", "/v1/admin/orgs/acme/workspaces/lsp/projects/keep", { default_retention: "extended" });
  const post = async (ws: string, run: string, project: string) => {
    const key = (await api.key("acme", ws)).key;
    const res = await fetch(`${stack.url}/runs`, { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: JSON.stringify({ id: run, trace_id: run, name: "r", run_type: "chain", start_time: at(22), session_name: project }) });
    expect(res.status).toBe(202);
  };
  await post("lsw", "0190c1c0-0000-7000-8000-0000000000b1", "any");
  await post("lsp", "0190c1c0-0000-7000-8000-0000000000b2", "keep");
  await post("lsp", "0190c1c0-0000-7000-8000-0000000000b3", "other"); // neither default: base, no upgrade
  await stack.waitUntilDrained({ timeoutMs: 60_000 });
  const rows = (await api.call("GET", "/v1/usage/upgrades?org=acme&period=2024-06&by=cause", TEST_PLATFORM_KEY)).body.rows as { group: string; upgrades: number }[];
  expect(rows.find((r) => r.group === "extended creation (the workspace's default)")).toMatchObject({ upgrades: 1, sole_upgrades: null });
  expect(rows.find((r) => r.group === "extended creation (the project's default)")).toMatchObject({ upgrades: 1, sole_upgrades: null });
  // A trace created extended through POST /v1/events is the API tier's decision: plain "extended creation".
  expect(rows.find((r) => r.group === "extended creation")).toMatchObject({ upgrades: 1 });
});

function usdOf(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  let fraction = String(micros % 1_000_000).padStart(6, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  return `${whole}.${fraction}`;
}
