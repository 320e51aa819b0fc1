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
  const naive = (by: (c: typeof causes extends Map<string, infer V> ? V : never) => string | undefined) => {
    const counts = new Map<string, number>();
    for (const c of causes.values()) {
      const g = by(c);
      if (g !== undefined) counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    return [...counts].map(([group, n]) => ({ group, upgrades: n, cost_usd: usdOf(n * 4_500) })).sort((a, b) => b.upgrades - a.upgrades || (a.group < b.group ? -1 : 1));
  };
  const read = async (by: string) => {
    const r = await api.call("GET", `/v1/usage/upgrades?org=acme&period=2024-06&by=${by}`, TEST_PLATFORM_KEY);
    expect(r.status).toBe(200);
    return r.body as { upgrades: number; cost_usd: string; unit_price_usd: string; rows: { group: string; upgrades: number; cost_usd: string }[] };
  };
  const byCause = await read("cause");
  expect(byCause.rows).toEqual(naive((c) => c.cause));
  expect(byCause.rows[0]).toEqual({ group: "rule:r-12", upgrades: 5, cost_usd: "0.0225" });
  expect(byCause).toMatchObject({ upgrades: 11, cost_usd: "0.0495", unit_price_usd: "0.0045" });
  expect((await read("rule")).rows).toEqual(naive((c) => c.rule));
  expect((await read("queue")).rows).toEqual(naive((c) => c.queue));
  expect((await read("feedback_key")).rows).toEqual(naive((c) => c.key));
  expect((await read("project")).rows).toEqual(naive((c) => c.project));
  expect((await read("workspace")).rows).toEqual(naive((c) => c.ws));
  // The total is the month's billed upgrades.
  const usage = (await api.call("GET", "/v1/usage?org=acme&from=2024-06&to=2024-06", TEST_PLATFORM_KEY)).body as { rows: { extended_upgrades: number }[] };
  expect(byCause.upgrades).toBe(usage.rows[0]!.extended_upgrades);

  // The command line prints the same, largest first.
  const cli = await runLedger(["usage", "--org", "acme", "--by", "cause", "--period", "2024-06", "--url", stack.url!], { env: { LEDGER_PLATFORM_KEY: TEST_PLATFORM_KEY } });
  expect(cli.stderr).toBe("");
  expect(cli.stdout.split("\n").slice(0, 3)).toEqual([
    "Extended upgrades of acme in 2024-06 by cause ($0.0045 each)",
    expect.stringMatching(/^cause +upgrades +cost$/),
    expect.stringMatching(/^rule:r-12 +5 +\$0\.0225$/),
  ]);
  expect(cli.stdout).toContain("total: 11 upgrade(s), $0.0495");

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
  expect(r.body.rows).toContainEqual({ group: "helpfulness", upgrades: 1, cost_usd: "0.0045" });
});

function usdOf(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  let fraction = String(micros % 1_000_000).padStart(6, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  return `${whole}.${fraction}`;
}
