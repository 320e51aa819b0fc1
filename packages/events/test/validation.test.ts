import { describe, expect, test } from "vitest";
import { InvalidBatchError, parseNdjson, validateBatch, validateEvent } from "../src";

const created = {
  id: "e-1",
  type: "trace-created",
  occurred_at: "2024-06-30T23:59:59.999Z",
  org_id: "acme",
  workspace_id: "prod",
  trace_id: "t-1",
  project_id: "chatbot",
  retention: "base",
};
const feedback = {
  id: "e-2",
  type: "feedback-added",
  occurred_at: "2024-07-03T08:00:00+02:00",
  org_id: "acme",
  workspace_id: "prod",
  trace_id: "t-1",
  run_id: "r-9",
  feedback_id: "f-1",
};

function problems(value: unknown) {
  const v = validateEvent(value);
  if (v.ok) throw new Error("expected a refusal");
  return v.problems;
}

describe("event wire format (spec §2)", () => {
  test("the spec's examples are valid; occurred_at is normalized to UTC with milliseconds", () => {
    expect(validateEvent(created)).toEqual({ ok: true, event: created });
    expect(validateEvent(feedback)).toMatchObject({ ok: true, event: { occurred_at: "2024-07-03T06:00:00.000Z" } });
    expect(validateEvent({ ...created, occurred_at: "2024-06-30T23:59:59.9999Z" })).toMatchObject({
      ok: true,
      event: { occurred_at: "2024-06-30T23:59:59.999Z" },
    });
    for (const [type, extra] of [
      ["queue-added", { run_id: "r", queue_id: "q" }],
      ["rule-matched", { run_id: "r", rule_id: "x" }],
    ] as const) {
      const { run_id: _r, feedback_id: _f, ...common } = feedback;
      expect(validateEvent({ ...common, type, ...extra }).ok).toBe(true);
    }
  });

  test("unknown fields are rejected, naming the field", () => {
    expect(problems({ ...created, colour: "red" })).toEqual([
      { field: "colour", reason: "is not a field of this event type (unknown fields are rejected)" },
    ]);
    expect(problems({ ...feedback, retention: "base" })[0]!.field).toBe("retention");
  });

  test("each field's rule gives a reason", () => {
    expect(problems({ ...created, id: "" })).toEqual([{ field: "id", reason: "must not be empty" }]);
    expect(problems({ ...created, id: "x".repeat(129) })[0]!.reason).toMatch(/at most 128/);
    expect(problems({ ...created, org_id: "ac me" })[0]).toEqual({ field: "org_id", reason: "may contain only A-Z a-z 0-9 . _ : -" });
    expect(problems({ ...created, retention: "forever" })[0]).toMatchObject({ field: "retention" });
    expect(problems({ ...created, occurred_at: "2024-06-31T00:00:00Z" })[0]).toMatchObject({ field: "occurred_at", reason: expect.stringMatching(/no day 31/) });
    expect(problems({ ...created, occurred_at: "yesterday" })[0]).toMatchObject({ field: "occurred_at", reason: expect.stringMatching(/RFC 3339/) });
    expect(problems({ ...created, trace_id: 7 })[0]).toEqual({ field: "trace_id", reason: "must be a string" });
    const { project_id: _p, ...noProject } = created;
    expect(problems(noProject)).toEqual([{ field: "project_id", reason: "is required" }]);
    expect(problems({ ...created, type: "trace-deleted" })[0]!.field).toBe("type");
    expect(problems([created])[0]!.field).toBe("(event)");
  });

  test("a batch is all-or-nothing and lists every bad event with its position and id", () => {
    const error = (() => {
      try {
        validateBatch([created, { ...feedback, run_id: "" }, { ...created, id: "e-3", retention: "x", extra: 1 }]);
      } catch (e) {
        return e as InvalidBatchError;
      }
      throw new Error("expected a refusal");
    })();
    expect(error).toBeInstanceOf(InvalidBatchError);
    expect(error.retriable).toBe(false);
    expect(error.problems).toEqual([
      { index: 1, event_id: "e-2", field: "run_id", reason: "must not be empty" },
      { index: 2, event_id: "e-3", field: "retention", reason: 'must be "base" or "extended"' },
      { index: 2, event_id: "e-3", field: "extra", reason: "is not a field of this event type (unknown fields are rejected)" },
    ]);
    expect(error.message).toMatch(/event 1 \(id "e-2"\): run_id must not be empty/);
  });

  test("NDJSON keeps line numbers, skips blank lines and names lines that are not JSON", () => {
    const text = `${JSON.stringify(created)}\n\n${JSON.stringify(feedback)}\r\n`;
    expect(parseNdjson(text).lines).toEqual([1, 3]);
    expect(() => parseNdjson(`${JSON.stringify(created)}\n{oops\n`)).toThrow(/line 2: \(line\) is not valid JSON/);
  });
});
