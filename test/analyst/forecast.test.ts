import { afterAll, beforeAll, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { billThroughPipeline, ev } from "../support/pipeline";

// §4.2 through the pipeline: a recorded history of eight weeks (a weekly rhythm and a slow rise,
// seeded), forecast from its 15th day of June, against a naive reading of the log; then June
// closed and the forecast's error against the month's actual reported. Limits in dollars (§6.3).
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
const clock = { now: () => Date.parse("2024-07-03T12:00:00Z") };
beforeAll(async () => {
  stack = await freshStack({ label: "forecast", ingest: true, clock });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  await api.workspace("acme", "prod", { all_traces_limit: 100_000, extended_traces_limit: 2_000 });
});
afterAll(async () => {
  await stack?.stop();
});

/** A deterministic pseudo-random stream (mulberry32): the same history on every run. */
function seeded(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

test("a forecast from the 15th day equals the naive reading of the log, and its error against the month's actual is reported", async () => {
  const random = seeded(2024);
  const log: object[] = [];
  const perDay = new Map<string, { base: number; upgrades: number }>();
  let n = 0;
  // 4 May to 30 June: weekdays busier than weekends, rising about 1 % a week.
  for (let t = Date.UTC(2024, 4, 4); t < Date.UTC(2024, 6, 1); t += DAY) {
    const weekday = new Date(t).getUTCDay() % 6 !== 0;
    const week = Math.floor((t - Date.UTC(2024, 4, 4)) / (7 * DAY));
    const traces = Math.round((weekday ? 420 : 160) * (1 + 0.01 * week) * (0.85 + 0.3 * random()));
    let upgrades = 0;
    for (let i = 0; i < traces; i++) {
      const at = new Date(t + Math.floor(random() * (DAY - 3_600_000))).toISOString();
      const trace = `t-${++n}`;
      log.push(ev.created("acme", trace, at));
      if (random() < 0.08) {
        log.push(ev.rule("acme", trace, at));
        upgrades++;
      }
    }
    perDay.set(dayOf(t), { base: traces, upgrades });
  }
  await billThroughPipeline(stack, log, 2_000);

  // Naively: June 1–15 so far; the 7 and 28 days ending on 15 June as rates for the 15 days left.
  const sum = (from: number, to: number, f: "base" | "upgrades") => {
    let s = 0;
    for (let t = from; t <= to; t += DAY) s += perDay.get(dayOf(t))?.[f] ?? 0;
    return s;
  };
  const june15 = Date.UTC(2024, 5, 15);
  const naive = (f: "base" | "upgrades") => {
    const soFar = sum(Date.UTC(2024, 5, 1), june15, f);
    const p = [7, 28].map((w) => soFar + Math.round((sum(june15 - (w - 1) * DAY, june15, f) / w) * 15));
    return { so_far: soFar, forecast_low: Math.min(...p), forecast_high: Math.max(...p) };
  };
  const outlook = await api.call("GET", "/v1/usage/outlook?org=acme&period=2024-06&through=2024-06-15", TEST_PLATFORM_KEY);
  expect(outlook.status).toBe(200);
  const o = outlook.body;
  expect(o).toMatchObject({ org_id: "acme", period: "2024-06", through: "2024-06-15", days_counted: 15, days_in_period: 30, plan: "plus", price_version: 1 });
  expect(o.method).toMatch(/last 7 days' daily rate and at the last 28 days'/);
  expect(o.base_traces).toMatchObject(naive("base"));
  expect(o.extended_upgrades).toMatchObject(naive("upgrades"));
  // Money as the invoice rates it: base traces past the 10,000 free at $0.0005, upgrades at $0.0045.
  const usd = (base: number, upgrades: number) => (Math.max(0, base - 10_000) * 500 + upgrades * 4_500) / 1e6;
  const b = naive("base");
  const u = naive("upgrades");
  expect(Number(o.total_usd.so_far)).toBeCloseTo(usd(b.so_far, u.so_far), 6);
  expect(Number(o.total_usd.forecast_low)).toBeCloseTo(usd(b.forecast_low, u.forecast_low), 6);
  expect(Number(o.total_usd.forecast_high)).toBeCloseTo(usd(b.forecast_high, u.forecast_high), 6);
  expect(o.free_base_traces).toEqual({ used: Math.min(10_000, b.so_far), allotment: 10_000 });
  expect(o.fixed_usd).toBe("0.00");

  // The month's actual, from June's final invoice.
  expect((await api.call("POST", "/v1/admin/periods/2024-06/close", TEST_PLATFORM_KEY, { wait: true })).body).toMatchObject({ final: true });
  const june = (await api.call("GET", "/v1/invoices/acme/2024-06", TEST_PLATFORM_KEY)).body as { lines: { kind: string; quantity: number }[]; total_usd: string };
  const actual = june.lines.find((l) => l.kind === "base_traces")!.quantity;
  expect(actual).toBe(sum(Date.UTC(2024, 5, 1), Date.UTC(2024, 5, 30), "base"));
  const mid = (b.forecast_low + b.forecast_high) / 2;
  const error = (mid - actual) / actual;
  console.log(
    `forecast from 2024-06-15: base traces ${b.forecast_low}–${b.forecast_high} (midpoint ${mid}), actual ${actual}, error ${(100 * error).toFixed(1)} %; ` +
      `total $${o.total_usd.forecast_low}–$${o.total_usd.forecast_high}, actual $${june.total_usd}`,
  );
  // The history is stationary but for its slow rise: the range's midpoint lands within 10 %.
  expect(Math.abs(error)).toBeLessThan(0.1);

  // A period counted through its last day forecasts exactly what it used.
  const whole = (await api.call("GET", "/v1/usage/outlook?org=acme&period=2024-06&through=2024-06-30", TEST_PLATFORM_KEY)).body;
  expect(whole.base_traces).toMatchObject({ so_far: actual, forecast_low: actual, forecast_high: actual });
  expect(whole.total_usd.so_far).toBe(june.total_usd);
});

test("the outlook's parameters: a day outside the period, a malformed day or period, another organization", async () => {
  const bad = async (qs: string, pattern: RegExp, status = 400) => {
    const r = await api.call("GET", `/v1/usage/outlook?${qs}`, TEST_PLATFORM_KEY);
    expect(r.status).toBe(status);
    expect(r.body.error).toMatch(pattern);
  };
  await bad("org=acme&period=2024-06&through=2024-07-01", /through 2024-07-01 is not a day of the period 2024-06/);
  await bad("org=acme&through=2024-06-31", /through.*must be a day YYYY-MM-DD/);
  await bad("org=acme&period=2024-13", /period.*must be a period YYYY-MM/);
  await bad("period=2024-06", /org is required/);
  const key = (await api.key("beta", "prod")).key;
  expect((await api.call("GET", "/v1/usage/outlook?org=acme&period=2024-06", key)).status).toBe(403);
  // A key's own organization by default; the current period by the ledger's clock (July 2024).
  const own = await api.call("GET", "/v1/usage/outlook", key);
  expect(own.status).toBe(200);
  expect(own.body).toMatchObject({ org_id: "beta", period: "2024-07", through: "2024-07-02", days_counted: 2 });
});

test("each workspace limit with its dollar equivalent at the organization's prices", async () => {
  const r = await api.call("GET", "/v1/limits?org=acme", TEST_PLATFORM_KEY);
  expect(r.status).toBe(200);
  const limits = r.body.limits as { limit: string; workspace_id?: string; limit_value: number; limit_usd?: string }[];
  // 100,000 traces less the 10,000 free at $0.0005: $45; 2,000 extended traces at $0.0045: $9.
  expect(limits.find((l) => l.limit === "workspace:all_traces" && l.workspace_id === "prod")).toMatchObject({ limit_value: 100_000, limit_usd: "45.00" });
  expect(limits.find((l) => l.limit === "workspace:extended_traces" && l.workspace_id === "prod")).toMatchObject({ limit_value: 2_000, limit_usd: "9.00" });
  expect(r.body.prices).toMatchObject({ base_trace_usd: "0.0005", upgrade_usd: "0.0045", free_base_traces: 10_000 });
  const prices = await api.call("GET", "/v1/prices?org=acme", TEST_PLATFORM_KEY);
  expect(prices.body).toEqual({ org_id: "acme", prices: r.body.prices });
});
