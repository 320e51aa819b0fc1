import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { consumerLag } from "@ledger/kafka";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ev } from "../support/pipeline";

// One stack for the API's request/response contract; each test uses its own org ids.
let stack: LedgerStack;
beforeAll(async () => {
  stack = await freshStack({ label: "ingest", ingest: true });
});
afterAll(async () => {
  await stack?.stop();
});

const post = (body: string, contentType = "application/json") =>
  fetch(`${stack.url}/v1/events`, { method: "POST", headers: { "content-type": contentType, "x-api-key": TEST_PLATFORM_KEY }, body });

async function publishedCount(): Promise<bigint> {
  const offsets = await stack.admin.fetchTopicOffsets(stack.topics.events);
  return offsets.reduce((s, o) => s + BigInt(o.high), 0n);
}

describe("POST /v1/events", () => {
  test("a JSON array is answered 202 after Kafka acknowledged it, and billed", async () => {
    const res = await post(JSON.stringify([ev.created("api1", "t", "2024-06-30T23:59:59.999Z"), ev.feedback("api1", "t", "2024-07-01T00:00:00Z")]));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2 });
    await stack.waitUntilDrained();
    const usage = await (await fetch(`${stack.url}/v1/usage?org=api1&by=workspace`, { headers: { "x-api-key": TEST_PLATFORM_KEY } })).json();
    expect(usage.rows).toEqual([
      { org_id: "api1", workspace_id: "prod", period: "2024-06", base_traces: 1, extended_upgrades: 0, base_charge_usd: "0.0005", upgrade_charge_usd: "0.00" },
      { org_id: "api1", workspace_id: "prod", period: "2024-07", base_traces: 0, extended_upgrades: 1, base_charge_usd: "0.00", upgrade_charge_usd: "0.0045" },
    ]);
  });

  test("NDJSON is accepted; a bad line is named by its line number", async () => {
    const ok = await post([ev.created("api2", "t", "2024-06-01T00:00:00Z"), "", ev.rule("api2", "t", "2024-06-02T00:00:00Z")].map((e) => (e ? JSON.stringify(e) : "")).join("\n"), "application/x-ndjson");
    expect(ok.status).toBe(202);
    const before = await publishedCount();
    const bad = await post(`${JSON.stringify(ev.created("api2", "u", "2024-06-01T00:00:00Z"))}\n\n${JSON.stringify({ ...ev.created("api2", "v", "2024-06-01T00:00:00Z"), retention: "gold" })}\n`, "application/x-ndjson");
    expect(bad.status).toBe(400);
    const body = await bad.json();
    expect(body.problems).toEqual([{ line: 3, event_id: expect.any(String), field: "retention", reason: 'must be "base" or "extended"' }]);
    expect(await publishedCount()).toBe(before);
  });

  test("one bad event refuses the whole batch (D4): every bad event listed, nothing published", async () => {
    const before = await publishedCount();
    const res = await post(
      JSON.stringify([
        ev.created("api3", "t", "2024-06-01T00:00:00Z"),
        { ...ev.feedback("api3", "t", "2024-06-02T00:00:00Z"), occurred_at: "2024-06-31T00:00:00Z" },
        { ...ev.rule("api3", "t", "2024-06-02T00:00:00Z"), surprise: true },
      ]),
    );
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.problems).toEqual([
      { index: 1, event_id: expect.any(String), field: "occurred_at", reason: "has no day 31 in 2024-06" },
      { index: 2, event_id: expect.any(String), field: "surprise", reason: "is not a field of this event type (unknown fields are rejected)" },
    ]);
    expect(body.error).toMatch(/nothing was published/);
    expect(await publishedCount()).toBe(before);
  });

  test("limits: more than 1,000 events or 5 MB is 413; malformed bodies are 400 or 415", async () => {
    const many = Array.from({ length: 1_001 }, (_, i) => ev.created("api4", `t${i}`, "2024-06-01T00:00:00Z"));
    const tooMany = await post(JSON.stringify(many));
    expect(tooMany.status).toBe(413);
    expect((await tooMany.json()).error).toMatch(/1001 events.*at most 1000/);
    const huge = await post(JSON.stringify([{ ...ev.created("api4", "x", "2024-06-01T00:00:00Z"), pad: "x".repeat(5 * 1024 * 1024) }]));
    expect(huge.status).toBe(413);
    expect((await post("{not json")).status).toBe(400);
    expect((await post(JSON.stringify(ev.created("api4", "t", "2024-06-01T00:00:00Z")))).status).toBe(400);
    expect((await post("hello", "text/plain")).status).toBe(415);
  });
});

describe("operations endpoints", () => {
  test("healthz, readyz and Prometheus metrics with accepted, refused, lag, upgrades, sink batches", async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${stack.url}/readyz`)).json()).toEqual({ status: "ready" });
    await post(JSON.stringify([ev.created("api5", "t", "2024-06-01T00:00:00Z", "extended")]));
    // t2: upgraded by a rule, then queued within its 14 days: an alternative (§4.1).
    await post(JSON.stringify([ev.created("api5", "t2", "2024-06-01T00:00:00Z"), ev.rule("api5", "t2", "2024-06-02T00:00:00Z"), ev.queue("api5", "t2", "2024-06-03T00:00:00Z")]));
    await stack.waitUntilDrained();
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    for (const name of [
      "ledger_events_accepted_total",
      'ledger_events_refused_total{reason="invalid"}',
      "ledger_consumer_lag{group=",
      "ledger_upgrades_emitted_total",
      "ledger_trigger_rejections_total",
      "ledger_sink_batch_rows_bucket",
      "ledger_sink_insert_seconds_bucket",
    ]) {
      expect(text).toContain(name);
    }
    expect(Number(/ledger_upgrades_emitted_total (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/ledger_upgrade_alternatives_total (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    const lag = await consumerLag(stack.admin, stack.groups.sink, [stack.topics.events]);
    expect(lag.every((l) => l.lag === 0n)).toBe(true);
  });

  test("usage rejects bad parameters with 400", async () => {
    const res = await fetch(`${stack.url}/v1/usage?from=2024-13`, { headers: { "x-api-key": TEST_PLATFORM_KEY } });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/YYYY-MM/);
  });
});
