import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { LedgerStack } from "@ledger/stack";
import { freshStack } from "../support/engines";
import { billThroughPipeline, ev, referenceTuples } from "../support/pipeline";

let stack: LedgerStack;
beforeEach(async () => {
  stack = await freshStack({ label: "periods" });
});
afterEach(async () => {
  await stack?.stop();
});

async function expectBilled(log: object[], expected: [string, string, string, number, number][]) {
  const billed = await billThroughPipeline(stack, log);
  expect(billed).toEqual(expected);
  expect(billed).toEqual(referenceTuples(log));
}

describe("periods (P1, B1) through the pipeline", () => {
  test("month, year and leap-day boundaries, to the millisecond", async () => {
    await expectBilled(
      [
        ev.created("o", "dec-last", "2024-12-31T23:59:59.999Z"),
        ev.created("o", "jan-first", "2025-01-01T00:00:00.000Z"),
        ev.created("o", "leap-last", "2024-02-29T23:59:59.999Z"),
        ev.created("o", "mar-first", "2024-03-01T00:00:00.000Z"),
        // Created in December, upgraded at the first instant of the next year.
        ev.created("o", "new-year", "2024-12-31T23:00:00.000Z"),
        ev.feedback("o", "new-year", "2025-01-01T00:00:00.000Z"),
      ],
      [
        ["o", "prod", "2024-02", 1, 0],
        ["o", "prod", "2024-03", 1, 0],
        ["o", "prod", "2024-12", 2, 0],
        ["o", "prod", "2025-01", 1, 1],
      ],
    );
  });

  test("±hh:mm offsets are converted to UTC before the period is chosen", async () => {
    await expectBilled(
      [
        ev.created("o", "east", "2024-07-01T01:30:00+02:00"), // 2024-06-30T23:30Z
        ev.created("o", "west", "2024-06-30T20:00:00-05:00"), // 2024-07-01T01:00Z
        ev.created("o", "up", "2024-06-25T12:00:00Z"),
        ev.queue("o", "up", "2024-06-30T22:30:00-01:30"), // 2024-07-01T00:00Z
      ],
      [
        ["o", "prod", "2024-06", 2, 0],
        ["o", "prod", "2024-07", 1, 1],
      ],
    );
  });

  test("sub-millisecond digits are truncated, never rounded into the next month", async () => {
    await expectBilled(
      [
        ev.created("o", "a", "2024-06-30T23:59:59.9999999Z"),
        ev.created("o", "b", "2024-06-20T00:00:00.000Z"),
        // 14 days minus a fraction of a millisecond: truncated to 1 ms before expiry → upgrades.
        ev.feedback("o", "b", "2024-07-03T23:59:59.9999Z"),
      ],
      [
        ["o", "prod", "2024-06", 2, 0],
        ["o", "prod", "2024-07", 0, 1],
      ],
    );
  });
});

describe("upgrades (U1–U5) through the pipeline", () => {
  test("expiry: exactly 14 days later is expired, 1 ms before still upgrades; extended traces last 400 days", async () => {
    await expectBilled(
      [
        ev.created("o", "at-expiry", "2024-06-20T00:00:00.000Z"),
        ev.feedback("o", "at-expiry", "2024-07-04T00:00:00.000Z"),
        ev.rule("o", "at-expiry", "2024-07-05T00:00:00.000Z"),
        ev.created("o", "just-before", "2024-06-20T00:00:00.000Z"),
        ev.rule("o", "just-before", "2024-07-03T23:59:59.999Z"),
        ev.created("o", "ext", "2024-06-20T00:00:00.000Z", "extended"),
        ev.feedback("o", "ext", "2025-05-01T00:00:00.000Z"),
      ],
      [
        ["o", "prod", "2024-06", 3, 1],
        ["o", "prod", "2024-07", 0, 1],
      ],
    );
    const rs = await stack.clickhouse.client.query({
      query: `SELECT trace_id, type, reason FROM ${stack.clickhouse.table("trigger_rejections_v1")} FINAL ORDER BY occurred_at`,
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([
      { trace_id: "at-expiry", type: "feedback-added", reason: "trace_expired" },
      { trace_id: "at-expiry", type: "rule-matched", reason: "trace_expired" },
    ]);
  });

  test("a trigger before its trace's creation in log order upgrades at the trigger's time (U5), once", async () => {
    await expectBilled(
      [
        ev.feedback("o", "early", "2024-06-30T23:00:00.000Z"),
        ev.created("o", "early", "2024-07-01T00:00:00.000Z"),
        ev.rule("o", "early", "2024-07-02T00:00:00.000Z"),
        // An extended creation after a U5 upgrade adds no second upgrade (U1).
        ev.queue("o", "early-ext", "2024-06-05T00:00:00.000Z"),
        ev.created("o", "early-ext", "2024-06-04T00:00:00.000Z", "extended"),
      ],
      [
        ["o", "prod", "2024-06", 1, 2],
        ["o", "prod", "2024-07", 1, 0],
      ],
    );
  });

  test("a trigger stamped before the known creation is clamped up to the creation time (U2)", async () => {
    await expectBilled(
      [
        ev.created("o", "clamp", "2024-07-01T00:00:00.000Z"),
        ev.feedback("o", "clamp", "2024-06-30T23:59:59.000Z"),
      ],
      [["o", "prod", "2024-07", 1, 1]],
    );
    const rs = await stack.clickhouse.client.query({
      query: `SELECT occurred_at, cause_type FROM ${stack.clickhouse.table("retention_upgrades_v1")} FINAL`,
      format: "JSONEachRow",
    });
    expect(await rs.json()).toEqual([{ occurred_at: "2024-07-01 00:00:00.000", cause_type: "feedback-added" }]);
  });

  test("every trigger type upgrades; later triggers change nothing (U1)", async () => {
    await expectBilled(
      [
        ev.created("o", "fb", "2024-06-01T00:00:00Z"),
        ev.feedback("o", "fb", "2024-06-02T00:00:00Z"),
        ev.created("o", "qu", "2024-06-01T00:00:00Z"),
        ev.queue("o", "qu", "2024-06-03T00:00:00Z"),
        ev.created("o", "ru", "2024-06-01T00:00:00Z"),
        ev.rule("o", "ru", "2024-06-04T00:00:00Z"),
        ev.feedback("o", "ru", "2024-06-05T00:00:00Z"),
        ev.queue("o", "fb", "2024-06-06T00:00:00Z"),
        ev.created("o", "ext", "2024-06-01T00:00:00Z", "extended"),
        ev.rule("o", "ext", "2024-06-07T00:00:00Z"),
      ],
      [["o", "prod", "2024-06", 4, 4]],
    );
  });
});

describe("delivery (D1) and identity", () => {
  test("duplicates of every event type, in separate deliveries, count once", async () => {
    const log = [
      ev.created("o", "a", "2024-06-29T00:00:00Z", "base", { id: "c-a" }),
      ev.created("o", "b", "2024-06-29T00:00:00Z", "extended", { id: "c-b" }),
      ev.feedback("o", "a", "2024-07-01T00:00:00Z", { id: "f-a" }),
      ev.queue("o", "c", "2024-07-02T00:00:00Z", { id: "q-c" }),
      ev.created("o", "d", "2024-06-29T00:00:00Z", "base", { id: "c-d" }),
      ev.rule("o", "d", "2024-07-03T00:00:00Z", { id: "r-d" }),
    ];
    const expected: [string, string, string, number, number][] = [
      ["o", "prod", "2024-06", 3, 1],
      ["o", "prod", "2024-07", 0, 3],
    ];
    await billThroughPipeline(stack, log);
    // Each event again, twice, in a different order between traces but the same within one.
    const billed = await billThroughPipeline(stack, [...log.slice(3), ...log.slice(0, 3), ...log]);
    expect(billed).toEqual(expected);
    expect(billed).toEqual(referenceTuples([...log, ...log, ...log]));
  });

  test("two orgs sharing trace ids and event ids are billed apart", async () => {
    await expectBilled(
      [
        ev.created("acme", "t-1", "2024-06-30T10:00:00Z", "base", { id: "e-1" }),
        ev.created("globex", "t-1", "2024-07-01T10:00:00Z", "base", { id: "e-1" }),
        ev.feedback("acme", "t-1", "2024-07-02T10:00:00Z", { id: "e-2" }),
        ev.feedback("globex", "t-1", "2024-07-30T10:00:00Z", { id: "e-2" }), // globex's expired
      ],
      [
        ["acme", "prod", "2024-06", 1, 0],
        ["acme", "prod", "2024-07", 0, 1],
        ["globex", "prod", "2024-07", 1, 0],
      ],
    );
  });
});
