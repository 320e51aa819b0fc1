import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { limitChecks, ReferenceLimiter, type EventCharge, type RateClass } from "@ledger/limits";
import { connectRedis, LimitCounters, startRedisServer, type RedisServer } from "@ledger/redis";
import { uniqueName } from "../support/engines";

// The Lua step of every replica against a naive reading of §6.1/§6.4, over random request
// sequences: same decisions, same refusal (limit, count, request, reset), on a real Redis.
let redis: RedisServer;
let client: ReturnType<typeof connectRedis>;
beforeAll(async () => {
  redis = await startRedisServer();
  client = connectRedis(redis.url);
  await new Promise((resolve) => client.once("ready", resolve));
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

const STEPS = [0, 1, 999, 30_000, 59_999, 60_000, 3_600_000, 31 * 86_400_000];
const request = fc.record({
  advance: fc.constantFrom(...STEPS),
  keyed: fc.boolean(),
  rateClass: fc.constantFrom<RateClass>("sessions_delete", "other"),
  charges: fc.array(
    fc.record({
      org: fc.constantFrom("a", "b"),
      ws: fc.constantFrom("w1", "w2"),
      event: fc.integer({ min: 0, max: 12 }),
      trace: fc.integer({ min: 0, max: 8 }),
      kind: fc.constantFrom("base", "extended", "trigger"),
      bytes: fc.integer({ min: 1, max: 400 }),
    }),
    { maxLength: 6 },
  ),
});

test("LimitCounters decide exactly as the reference limiter", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 40 }), async (requests) => {
      const counters = new LimitCounters(client, uniqueName("prop"));
      const reference = new ReferenceLimiter();
      let now = Date.parse("2031-03-31T23:58:00Z");
      for (const [step, r] of requests.entries()) {
        now += r.advance;
        const charges: EventCharge[] = r.charges.map((c) => ({
          orgId: c.org,
          workspaceId: c.ws,
          eventId: `e${c.event}`,
          bytes: c.bytes,
          ...(c.kind !== "trigger" ? { createsTrace: `t${c.trace}` } : {}),
          ...(c.kind !== "base" ? { extendsTrace: `t${c.trace}` } : {}),
        }));
        const checks = limitChecks({
          nowMs: now,
          ...(r.keyed ? { rate: { keyId: "k", orgId: "a", class: r.rateClass } } : {}),
          charges,
          plan: (org) => (org === "a" ? { eventsPerHour: 8, bytesPerHour: 1_500, tracesPerMonth: 6 } : { eventsPerHour: null, bytesPerHour: 900, tracesPerMonth: null }),
          // Limits change now and then (a lowered limit leaves a counter above it).
          workspace: (_org, ws) => (ws === "w1" ? { allTracesLimit: step % 3 === 0 ? 2 : 4, extendedTracesLimit: 2 } : { allTracesLimit: null, extendedTracesLimit: 1 }),
        });
        let outcome = await counters.admit(checks, now);
        if (outcome.admitted === "seed") {
          for (const c of outcome.checks) await counters.seed(c, [], now); // nothing in ClickHouse
          outcome = await counters.admit(checks, now);
        }
        expect(outcome).toEqual(reference.admit(checks, now));
      }
    }),
    { numRuns: 60 },
  );
});

test("rate windows: opened by the first request, 60 s long, refused requests not counted", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof({ arbitrary: fc.constantFrom(0, 1, 100, 1_999), weight: 20 }, { arbitrary: fc.constantFrom(20_000, 59_999, 60_000, 120_000), weight: 1 }), { minLength: 35, maxLength: 120 }), async (advances) => {
      const counters = new LimitCounters(client, uniqueName("rate"));
      const reference = new ReferenceLimiter();
      let now = Date.parse("2031-01-01T00:00:00Z");
      const none = () => ({ eventsPerHour: null, bytesPerHour: null, tracesPerMonth: null });
      for (const advance of advances) {
        now += advance;
        const checks = limitChecks({ nowMs: now, rate: { keyId: "k", orgId: "a", class: "sessions_delete" }, charges: [], plan: none, workspace: () => ({ allTracesLimit: null, extendedTracesLimit: null }) });
        expect(await counters.admit(checks, now)).toEqual(reference.admit(checks, now));
      }
    }),
    { numRuns: 60 },
  );
});

test("a counter above a lowered limit refuses only requests that add to it", async () => {
  const counters = new LimitCounters(client, uniqueName("lowered"));
  const now = Date.parse("2031-03-10T00:00:00Z");
  const checksFor = (limit: number, charges: EventCharge[]) =>
    limitChecks({ nowMs: now, charges, plan: () => ({ eventsPerHour: null, bytesPerHour: null, tracesPerMonth: null }), workspace: () => ({ allTracesLimit: limit, extendedTracesLimit: null }) });
  const admit = async (limit: number, charges: EventCharge[]) => {
    const checks = checksFor(limit, charges);
    let outcome = await counters.admit(checks, now);
    if (outcome.admitted === "seed") {
      for (const c of outcome.checks) await counters.seed(c, [], now);
      outcome = await counters.admit(checks, now);
    }
    return outcome;
  };
  const creation = (i: number): EventCharge => ({ orgId: "a", workspaceId: "w", eventId: `c${i}`, bytes: 1, createsTrace: `t${i}` });
  expect(await admit(4, [creation(1), creation(2), creation(3)])).toEqual({ admitted: true });
  // The limit is lowered to 2: a trigger adds no trace and passes; a retried creation adds nothing; a new one is refused.
  expect(await admit(2, [{ orgId: "a", workspaceId: "w", eventId: "f1", bytes: 1, extendsTrace: "t1" }])).toEqual({ admitted: true });
  expect(await admit(2, [creation(2)])).toEqual({ admitted: true });
  expect(await admit(2, [creation(4)])).toMatchObject({ admitted: false, refusal: { limit: "workspace:all_traces", current: 3, requested: 1, limitValue: 2 } });
});
