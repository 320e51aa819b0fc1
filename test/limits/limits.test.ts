import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { queryUsage } from "@ledger/clickhouse";
import { limitChecks, ManualClock, RATE_LIMITS, type RateClass } from "@ledger/limits";
import { connectRedis, LimitCounters, startRedisServer, type RedisServer } from "@ledger/redis";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY, uniqueName } from "../support/engines";
import { ledgerApi, publishedCount } from "../support/ledger-api";
import { ev } from "../support/pipeline";

// One stack with a clock the tests move, and a Redis of this file's own so it can be killed.
const T0 = "2030-01-15T10:00:10.500Z";
const clock = new ManualClock(T0);
const redisDir = mkdtempSync(join(tmpdir(), "ledger-limits-redis-"));
let redis: RedisServer;
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
const now = () => new Date(clock.now()).toISOString();

beforeAll(async () => {
  redis = await startRedisServer({ dir: redisDir });
  stack = await freshStack({ label: "limits", ingest: true, clock, engines: { redis: { url: redis.url, leaseMs: 10_000 } } });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
});
afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

const creations = (org: string, n: number, prefix: string, ws = "prod", retention: "base" | "extended" = "base") =>
  Array.from({ length: n }, (_, i) => ev.created(org, `${prefix}-${i}`, now(), retention, { ws, id: `${prefix}-c${i}` }));

describe("authentication (§7)", () => {
  test("401 without a key or with an unknown one; 403 for another workspace or organization", async () => {
    const key = (await api.key("auth", "prod")).key;
    const event = ev.created("auth", "t1", now());
    expect((await api.post(null, [event])).status).toBe(401);
    const unknown = await api.post("lsv2_pt_not-a-key-of-this-ledger-0000000000000000", [event]);
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toMatch(/x-api-key is not a key of this ledger/);
    const before = await publishedCount(stack);
    const tenant = await api.post(key, [event], { "x-tenant-id": "staging" });
    expect(tenant.status).toBe(403);
    expect(tenant.body.error).toMatch(/x-tenant-id names workspace "staging"/);
    const otherWs = await api.post(key, [event, ev.created("auth", "t2", now(), "base", { ws: "staging" })]);
    expect(otherWs.status).toBe(403);
    expect(otherWs.body.error).toMatch(/^event 1: workspace_id "staging" is not the workspace of the API key/);
    expect((await api.post(key, [ev.created("other-org", "t3", now())])).status).toBe(403);
    expect(await publishedCount(stack)).toBe(before);
    expect((await api.post(key, [event], { "x-tenant-id": "prod" })).status).toBe(202);
    // Usage: the platform key, or a key of the organization asked about.
    expect((await api.call("GET", "/v1/usage?org=auth", key)).status).toBe(200);
    expect((await api.call("GET", "/v1/usage?org=someone-else", key)).status).toBe(403);
    expect((await api.call("GET", "/v1/usage", null)).status).toBe(401);
    // The admin API takes the platform key only.
    expect((await api.call("PUT", "/v1/admin/orgs/auth", key, { plan: "plus" })).status).toBe(403);
  });

  test("a revoked key stops working; listing never shows a key", async () => {
    const { key, key_id } = await api.key("revoke", "prod");
    expect((await api.post(key, [ev.created("revoke", "t1", now())])).status).toBe(202);
    const listed = (await api.admin("GET", "/v1/admin/keys?org=revoke")).keys;
    expect(listed).toEqual([{ key_id, org_id: "revoke", workspace_id: "prod", kind: "service", created_at: expect.any(String), revoked: false }]);
    expect(JSON.stringify(listed)).not.toContain(key);
    await api.admin("POST", `/v1/admin/keys/${key_id}/revoke`);
    const refused = await api.post(key, [ev.created("revoke", "t2", now())]);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toMatch(/was revoked/);
    expect((await api.call("POST", "/v1/admin/keys/no-such-key/revoke", TEST_PLATFORM_KEY)).status).toBe(404);
  });

  test("identifiers that look like SQL are refused by validation or reach ClickHouse only as parameters", async () => {
    const bad = await api.call("PUT", "/v1/admin/orgs/x';DROP%20TABLE%20t;--", TEST_PLATFORM_KEY, { plan: "plus" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/organization may contain only/);
    const badLimits = await api.call("GET", "/v1/admin/limits?org=a'%20OR%201=1", TEST_PLATFORM_KEY);
    expect(badLimits.status).toBe(400);
    // Within the id alphabet but SQL-shaped: stored and counted as plain data.
    const org = "OR.1--DROP";
    await api.workspace(org, "prod", { all_traces_limit: 1 });
    expect((await api.post(TEST_PLATFORM_KEY, creations(org, 1, "sql"))).status).toBe(202);
    const refused = await api.post(TEST_PLATFORM_KEY, creations(org, 1, "sql2"));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ limit: "workspace:all_traces", org_id: org, current: 1 });
  });
});

describe("rate limits per key (§6.1)", () => {
  test("rate:other: the 2,001st request of a window is refused with the seconds left; refused ones do not count", async () => {
    const { key } = await api.key("rate", "prod");
    clock.set("2030-01-15T10:00:10.500Z");
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.other; i += 50) {
      statuses.push(...(await Promise.all(Array.from({ length: 50 }, () => api.post(key, [])))).map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(RATE_LIMITS.other);
    clock.advance(20_000);
    const refused = await api.post(key, []);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("40");
    expect(refused.body).toMatchObject({ limit: "rate:other", key_id: expect.any(String), limit_value: 2000, current: 2000, requested: 1, resets_at: "2030-01-15T10:01:10.500Z", retry_after_s: 40 });
    clock.advance(39_999); // 1 ms before the window ends: still refused, 1 s left (rounded up)
    expect((await api.post(key, [])).headers.get("retry-after")).toBe("1");
    clock.advance(1); // the window ended; the next request opens a new one
    expect((await api.post(key, [])).status).toBe(202);
    const limits = await api.limits("rate", "prod");
    expect(limits.find((l) => l.limit === "rate:other")).toMatchObject({ current: 1 });
    // The platform key has no per-key rate limit.
    expect((await api.post(TEST_PLATFORM_KEY, [])).status).toBe(202);
  });

  test("every class has its own window and limit (the shared Lua step, against this Redis)", async () => {
    const client = connectRedis(redis.url);
    await new Promise((resolve) => client.once("ready", resolve));
    const counters = new LimitCounters(client, uniqueName("classes"));
    const at = Date.parse("2030-01-15T10:00:00Z");
    for (const cls of Object.keys(RATE_LIMITS) as RateClass[]) {
      const checks = limitChecks({ nowMs: at, rate: { keyId: "k", orgId: "o", class: cls }, charges: [], plan: () => ({ eventsPerHour: null, bytesPerHour: null, tracesPerMonth: null }), workspace: () => ({ allTracesLimit: null, extendedTracesLimit: null }) });
      let admitted = 0;
      for (let i = 0; i < RATE_LIMITS[cls]; i++) if ((await counters.admit(checks, at + i)).admitted === true) admitted++;
      expect(admitted).toBe(RATE_LIMITS[cls]);
      const refused = await counters.admit(checks, at + 59_999);
      expect(refused).toMatchObject({ admitted: false, refusal: { limit: `rate:${cls}`, current: RATE_LIMITS[cls], resetsAtMs: at + 60_000 } });
      expect((await counters.admit(checks, at + 60_000)).admitted).toBe(true);
    }
    client.disconnect();
  });
});

describe("plan limits per organization (§6.2)", () => {
  test("events per clock hour: retried events count once; the next hour starts again", async () => {
    clock.set("2030-01-15T11:59:00Z");
    await api.org("hourly", { plan: "enterprise", payment_method: true, events_per_hour: 5 });
    const first = creations("hourly", 3, "h1");
    expect((await api.post(TEST_PLATFORM_KEY, first)).status).toBe(202);
    const before = await publishedCount(stack);
    const over = await api.post(TEST_PLATFORM_KEY, creations("hourly", 3, "h2"));
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ limit: "plan:events_per_hour", org_id: "hourly", limit_value: 5, current: 3, requested: 3, resets_at: "2030-01-15T12:00:00.000Z", retry_after_s: 60 });
    expect(over.headers.get("retry-after")).toBe("60");
    expect(await publishedCount(stack)).toBe(before);
    // A retry of the first request adds nothing and is admitted; two new events fill the hour.
    expect((await api.post(TEST_PLATFORM_KEY, first)).status).toBe(202);
    expect((await api.post(TEST_PLATFORM_KEY, creations("hourly", 2, "h3"))).status).toBe(202);
    expect((await api.post(TEST_PLATFORM_KEY, creations("hourly", 1, "h4"))).status).toBe(429);
    clock.set("2030-01-15T12:00:00Z");
    expect((await api.post(TEST_PLATFORM_KEY, creations("hourly", 5, "h5"))).status).toBe(202);
  });

  test("bytes per clock hour: each event's JSON text", async () => {
    await api.org("bytes", { plan: "enterprise", payment_method: true, bytes_per_hour: 600 });
    const events = creations("bytes", 3, "b");
    const size = Buffer.byteLength(JSON.stringify(events[0]));
    expect(3 * size).toBeLessThanOrEqual(600);
    expect(4 * size).toBeGreaterThan(600);
    expect((await api.post(TEST_PLATFORM_KEY, events)).status).toBe(202);
    const fourth = creations("bytes", 1, "b2");
    const over = await api.post(TEST_PLATFORM_KEY, fourth);
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ limit: "plan:bytes_per_hour", current: 3 * size, requested: Buffer.byteLength(JSON.stringify(fourth[0])), limit_value: 600 });
  });

  test("Developer without a payment method: 5,000 traces a month; a payment method lifts the cap", async () => {
    clock.set("2030-01-20T00:00:00Z");
    for (let i = 0; i < 5; i++) expect((await api.post(TEST_PLATFORM_KEY, creations("dev", 1_000, `d${i}`))).status).toBe(202);
    const over = await api.post(TEST_PLATFORM_KEY, creations("dev", 1, "d-over"));
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ limit: "plan:traces_per_month", org_id: "dev", limit_value: 5000, current: 5000, requested: 1, resets_at: "2030-02-01T00:00:00.000Z" });
    // Triggers create no trace: still admitted at the cap.
    expect((await api.post(TEST_PLATFORM_KEY, [ev.feedback("dev", "d0-1", now())])).status).toBe(202);
    await api.org("dev", { plan: "developer", payment_method: true });
    expect((await api.post(TEST_PLATFORM_KEY, creations("dev", 1, "d-over"))).status).toBe(202);
  });
});

describe("usage limits per workspace (§6.3)", () => {
  test("all traces and extended traces; at the extended limit triggers and extended creations are refused, base creations not; months reset", async () => {
    clock.set("2030-01-31T23:59:00Z");
    await api.org("ws", { plan: "plus", payment_method: true });
    await api.workspace("ws", "prod", { all_traces_limit: 4, extended_traces_limit: 1 });
    expect((await api.post(TEST_PLATFORM_KEY, creations("ws", 2, "a"))).status).toBe(202);
    expect((await api.post(TEST_PLATFORM_KEY, [ev.feedback("ws", "a-0", now())])).status).toBe(202);
    const before = await publishedCount(stack);
    for (const refused of [[ev.rule("ws", "a-1", now())], [ev.queue("ws", "a-1", now())], [ev.feedback("ws", "a-1", now())], creations("ws", 1, "x", "prod", "extended")]) {
      const r = await api.post(TEST_PLATFORM_KEY, refused);
      expect(r.status).toBe(429);
      expect(r.body).toMatchObject({ limit: "workspace:extended_traces", workspace_id: "prod", limit_value: 1, current: 1, requested: 1 });
    }
    expect(await publishedCount(stack)).toBe(before);
    // A second trigger on the trace already counted adds nothing.
    expect((await api.post(TEST_PLATFORM_KEY, [ev.rule("ws", "a-0", now())])).status).toBe(202);
    expect((await api.post(TEST_PLATFORM_KEY, creations("ws", 2, "b"))).status).toBe(202);
    const full = await api.post(TEST_PLATFORM_KEY, creations("ws", 1, "c"));
    expect(full.body).toMatchObject({ limit: "workspace:all_traces", current: 4, requested: 1, resets_at: "2030-02-01T00:00:00.000Z", retry_after_s: 60 });
    // Another workspace of the organization has no limits.
    expect((await api.post(TEST_PLATFORM_KEY, creations("ws", 3, "s", "staging"))).status).toBe(202);
    clock.set("2030-02-01T00:00:00Z");
    expect((await api.post(TEST_PLATFORM_KEY, [...creations("ws", 4, "feb"), ev.feedback("ws", "feb-0", now())])).status).toBe(202);
    await stack.waitUntilDrained();
    const usage = await queryUsage(stack.clickhouse, { org: "ws", by: "workspace" });
    expect(usage.filter((r) => r.workspace_id === "prod").map((r) => [r.period, r.base_traces, r.extended_upgrades])).toEqual([
      ["2030-01", 4, 1],
      ["2030-02", 4, 1],
    ]);
  });
});

describe("Redis", () => {
  test("killed under load: no 5xx, nothing lost, counters rebuilt from ClickHouse, limits back", async () => {
    clock.set("2030-03-10T08:00:00Z");
    await api.workspace("redis", "prod", { all_traces_limit: 2_000, extended_traces_limit: null });
    const statuses: number[] = [];
    let sent = 0;
    const batch = async (i: number) => {
      const r = await api.post(TEST_PLATFORM_KEY, creations("redis", 50, `r${i}`));
      statuses.push(r.status);
      if (r.status === 202) sent += 50;
    };
    for (let i = 0; i < 10; i++) await batch(i);
    await redis.stop();
    for (let i = 10; i < 20; i++) await batch(i); // Redis away: fail open, ClickHouse counts
    // The LangSmith API cannot fail open: a run's trace is known only through Redis' run index.
    // It answers 503 with Retry-After (which the SDK retries), a sentence, and publishes nothing.
    const wsKey = (await api.key("redis", "ls")).key; // another workspace: prod's limit stays exact
    const run = { id: "ls-root", trace_id: "ls-root", name: "agent", run_type: "chain", start_time: now(), session_name: "p" };
    const before = await publishedCount(stack);
    const away = await api.call("POST", "/runs/batch", wsKey, { post: [run] });
    expect(away.status).toBe(503);
    expect(away.headers.get("retry-after")).toBe("1");
    expect(away.body.error).toMatch(/^Redis did not answer: .*; retry later/);
    expect(await publishedCount(stack)).toBe(before);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(Number(/^ledger_limits_fail_open_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(10);
    expect(metrics).toMatch(/^ledger_limits_redis_up 0$/m);
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    redis = await startRedisServer({ dir: redisDir }); // empty: counters are rebuilt
    await stack.waitUntilDrained();
    // The client retries as the SDK does, until Redis' client has reconnected: then 202.
    let retried = await api.call("POST", "/runs/batch", wsKey, { post: [run] });
    for (let attempt = 0; retried.status === 503 && attempt < 40; attempt++) {
      await new Promise((r) => setTimeout(r, 250));
      retried = await api.call("POST", "/runs/batch", wsKey, { post: [run] });
    }
    expect(retried.status).toBe(202);
    for (let i = 20; i < 40; i++) await batch(i);
    expect(statuses.every((s) => s === 202)).toBe(true);
    expect(sent).toBe(2_000);
    const over = await api.post(TEST_PLATFORM_KEY, creations("redis", 1, "over"));
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ limit: "workspace:all_traces", current: 2_000 });
    await stack.waitUntilDrained();
    // The monthly counter agrees with the ledger's own metric.
    const rows = await queryUsage(stack.clickhouse, { org: "redis", by: "workspace" });
    expect(rows.map((r) => [r.workspace_id, r.period, r.base_traces])).toEqual([
      ["ls", "2030-03", 1], // the LangSmith trace, once
      ["prod", "2030-03", 2_000],
    ]);
    expect((await api.limits("redis", "prod")).find((l) => l.limit === "workspace:all_traces")).toMatchObject({ current: 2_000 });
  });
});
