import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { calendarMonth, clockHour, firstRefusal, limitChecks, rateClassOf, refusalBody, retryAfterSeconds, type EventCharge } from "../src";

const plan = { eventsPerHour: 10, bytesPerHour: 1_000, tracesPerMonth: 5 };
const noWs = () => ({ allTracesLimit: null, extendedTracesLimit: null });
const charge = (orgId: string, workspaceId: string, eventId: string, extra: Partial<EventCharge> = {}): EventCharge => ({ orgId, workspaceId, eventId, bytes: 100, ...extra });

describe("rate classes (§6.1)", () => {
  test.each([
    ["DELETE", "/sessions/abc", "sessions_delete"],
    ["DELETE", "/api/v1/sessions/abc", "sessions_delete"],
    ["POST", "/runs", "runs"],
    ["POST", "/api/v1/runs/batch", "runs"],
    ["POST", "/runs/multipart", "runs"],
    ["PATCH", "/api/v1/runs/r-1", "runs"],
    ["POST", "/feedback", "feedback"],
    ["POST", "/api/v1/feedback?x=1", "feedback"],
    ["POST", "/v1/events", "other"],
    ["GET", "/v1/usage", "other"],
    ["GET", "/runs/r-1", "other"],
    ["POST", "/annotation-queues/q/runs", "other"],
  ])("%s %s is %s", (method, path, cls) => {
    expect(rateClassOf(method, path)).toBe(cls);
  });
});

describe("windows", () => {
  test("clock hours and calendar months of the clock, UTC, half-open", () => {
    expect(clockHour(Date.parse("2024-07-01T00:59:59.999Z"))).toEqual({ key: "2024-07-01T00", startMs: Date.parse("2024-07-01T00:00:00Z"), endMs: Date.parse("2024-07-01T01:00:00Z") });
    expect(clockHour(Date.parse("2024-07-01T01:00:00.000Z")).key).toBe("2024-07-01T01");
    expect(calendarMonth(Date.parse("2024-02-29T23:59:59.999Z")).key).toBe("2024-02");
    expect(calendarMonth(Date.parse("2024-03-01T00:00:00Z")).key).toBe("2024-03");
  });

  test("Retry-After is the seconds left, rounded up, at least 1", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 12 }), fc.integer({ min: 1, max: 10 ** 9 }), (now, left) => {
        const s = retryAfterSeconds(now + left, now);
        expect(s).toBe(Math.ceil(left / 1000));
        expect(s * 1000).toBeGreaterThanOrEqual(left);
      }),
    );
  });
});

describe("checks in the order of §6.4", () => {
  test("rate, then per org events, bytes, traces, then per workspace all and extended", () => {
    const checks = limitChecks({
      nowMs: Date.parse("2024-07-10T12:30:00Z"),
      rate: { keyId: "k", orgId: "b", class: "other" },
      charges: [
        charge("b", "w2", "e1", { createsTrace: "t1", extendsTrace: "t1" }),
        charge("a", "w1", "e2", { extendsTrace: "t9" }),
        charge("b", "w1", "e3", { createsTrace: "t2" }),
      ],
      plan: () => plan,
      workspace: () => ({ allTracesLimit: 100, extendedTracesLimit: 10 }),
    });
    expect(checks.map((c) => `${c.limit} ${c.scope.org_id ?? ""}/${c.scope.workspace_id ?? ""}`)).toEqual([
      "rate:other b/",
      "plan:events_per_hour a/",
      "plan:events_per_hour b/",
      "plan:bytes_per_hour a/",
      "plan:bytes_per_hour b/",
      "plan:traces_per_month a/",
      "plan:traces_per_month b/",
      "workspace:all_traces a/w1",
      "workspace:all_traces b/w1",
      "workspace:all_traces b/w2",
      "workspace:extended_traces a/w1",
      "workspace:extended_traces b/w1",
      "workspace:extended_traces b/w2",
    ]);
    // Bytes are weighed over the same org's events check.
    const bytesB = checks[4]!;
    expect(bytesB.kind === "sum" && checks[bytesB.of]!.counter).toBe("events:b:2024-07-10T12");
    const extB2 = checks[12]!;
    expect(extB2.kind === "distinct" && extB2.members).toEqual(["t1"]);
    expect(extB2.kind === "distinct" && extB2.previous).toBe("ws-extended:b:w2:2024-06");
  });

  test("no limit, no counter; the platform key has no rate check", () => {
    const checks = limitChecks({
      nowMs: 0,
      charges: [charge("a", "w", "e")],
      plan: () => ({ eventsPerHour: null, bytesPerHour: null, tracesPerMonth: null }),
      workspace: noWs,
    });
    expect(checks).toEqual([]);
  });

  test("a request is refused when current + requested > limit; adding nothing never refuses", () => {
    const checks = limitChecks({ nowMs: 0, charges: [charge("a", "w", "e")], plan: () => plan, workspace: noWs });
    expect(firstRefusal(checks, (i) => ({ current: checks[i]!.value!, requested: 0, resetsAtMs: 1 }))).toBeNull();
    expect(firstRefusal(checks, (i) => ({ current: checks[i]!.value! - 1, requested: 1, resetsAtMs: 1 }))).toBeNull();
    expect(firstRefusal(checks, () => ({ current: 10, requested: 1, resetsAtMs: 3_600_000 }))).toMatchObject({ limit: "plan:events_per_hour", current: 10, requested: 1, limitValue: 10 });
  });

  test("the 429 body names limit, scope, value, count, request and reset", () => {
    const body = refusalBody(
      { limit: "workspace:all_traces", scope: { org_id: "acme", workspace_id: "prod" }, limitValue: 1000, current: 1000, requested: 3, resetsAtMs: Date.parse("2024-08-01T00:00:00Z") },
      Date.parse("2024-07-31T00:00:00Z"),
    );
    expect(body).toMatchObject({
      error: "limit_exceeded",
      limit: "workspace:all_traces",
      org_id: "acme",
      workspace_id: "prod",
      limit_value: 1000,
      current: 1000,
      requested: 3,
      resets_at: "2024-08-01T00:00:00.000Z",
      retry_after_s: 86400,
    });
  });
});
