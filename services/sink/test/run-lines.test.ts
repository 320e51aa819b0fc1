import type { ConsumedMessage } from "@ledger/kafka";
import fc from "fast-check";
import { expect, test } from "vitest";
import { RUN_MESSAGE_BYTES, runMessagesOf, type StoredRunPart } from "@ledger/langsmith";
import { runLines, runRows } from "../src/sink-rows";

const message = (value: string): ConsumedMessage => ({ key: null, value: Buffer.from(value), timestamp: "0", attributes: 0, offset: "0", headers: {}, size: 0 });
/** runMessagesOf's messages with their bytes as text (every byte written: the text encodes to them again). */
const messagesOf = (parts: StoredRunPart[], receivedAtMs: number) =>
  runMessagesOf(parts, receivedAtMs).map((m) => {
    expect(Buffer.from(m.value.toString("utf8")).equals(m.value)).toBe(true);
    return { ...m, value: m.value.toString("utf8") };
  });
const RECEIVED = Date.parse("2024-06-30T23:59:59.123Z");
const part = (over: Partial<StoredRunPart> = {}): StoredRunPart => ({
  org_id: "org-1",
  workspace_id: "ws-1",
  trace_id: "t-1",
  run_id: "r-1",
  part: "post",
  trace_created_at: "2024-06-30T23:59:58.000Z",
  expires_at: "2024-07-14T23:59:58.000Z",
  run: JSON.stringify({ id: "r-1", inputs: { q: 'say "hi"\n' }, n: 2.5 }),
  attachments: JSON.stringify([{ name: "f.txt", content_type: "text/plain", size: 3, content_base64: "YWJj" }]),
  ...over,
});

test("ingest's run messages are one line per part, a request's traces together, read alike fast and checked", () => {
  const parts = [part(), part({ run_id: "r-2", run: JSON.stringify({ id: "r-2" }), attachments: "[]" }), part({ trace_id: "t-2", run_id: "r-3" })];
  const messages = messagesOf(parts, RECEIVED);
  expect(messages.map((m) => [m.traceId, m.value.split("\n").length])).toEqual([["t-1", 3]]);
  for (const m of messages) {
    const fast = runLines(message(m.value));
    expect(fast).not.toBeNull();
    const checked = runRows(message(m.value));
    expect(checked.ok).toBe(true);
    // The checked reading is the row ClickHouse makes of the line: run and attachments as their text.
    const rows = (checked as { rows: Record<string, unknown>[] }).rows;
    expect(rows.map((r) => JSON.parse(String(r.run)))).toEqual(fast!.map((l) => JSON.parse(l.toString("utf8")).run));
    // The fast reading hands on the message's own bytes, line by line.
    expect(fast!.map((l) => l.toString("utf8"))).toEqual(m.value.split("\n"));
    expect(rows[0]).toMatchObject({ received_at: "2024-06-30 23:59:59.123", trace_created_at: "2024-06-30 23:59:58.000" });
  }
});

test("run messages hold every line once and in order, none past RUN_MESSAGE_BYTES but a line that is longer by itself", () => {
  fc.assert(
    // Multi-byte characters too: the bound is in bytes, not in UTF-16 units.
    fc.property(fc.array(fc.tuple(fc.constantFrom("t-1", "t-2", "t-3"), fc.nat({ max: RUN_MESSAGE_BYTES }), fc.constantFrom("x", "é", "日")), { maxLength: 40 }), (spec) => {
      const parts = spec.map(([trace, size, char], i) => part({ trace_id: trace, run_id: `r-${i}`, run: JSON.stringify({ id: `r-${i}`, pad: char.repeat(size) }) }));
      const messages = messagesOf(parts, RECEIVED);
      const lines = messages.flatMap((m) => m.value.split("\n"));
      expect(lines.map((l) => JSON.parse(l).run_id)).toEqual(parts.map((p) => p.run_id));
      for (const m of messages) {
        // Keyed by its first line's trace.
        expect(m.traceId).toBe(JSON.parse(m.value.split("\n")[0]!).trace_id);
        if (m.value.includes("\n")) expect(Buffer.byteLength(m.value)).toBeLessThanOrEqual(RUN_MESSAGE_BYTES);
      }
      // A message ends only where its next line would not have fitted.
      for (let i = 0; i + 1 < messages.length; i++) expect(Buffer.byteLength(messages[i]!.value) + 1 + Buffer.byteLength(messages[i + 1]!.value.split("\n")[0]!)).toBeGreaterThan(RUN_MESSAGE_BYTES);
    }),
    { numRuns: 30 },
  );
});

test("the fast reading checks the head of a line by its bytes: non-ASCII ids pass, a quote in the bytes does not", () => {
  const value = messagesOf([part({ org_id: "örg-日本", trace_id: "t-é", run_id: "r-🙂" })], RECEIVED)[0]!.value;
  expect(runLines(message(value))!.map((l) => l.toString("utf8"))).toEqual([value]);
  expect(runLines(message(value.replace("t-é", 't-\\"')))).toBeNull();
  expect(runLines(message(`${value}\n`))).toBeNull();
});

test("a run key named __proto__ survives the checked reading (seed 2035113559 found it)", () => {
  const run = '{"__proto__":[1],"a":1}';
  const r = runRows(message(messagesOf([part({ run })], RECEIVED)[0]!.value));
  expect(r.ok).toBe(true);
  expect(String((r as { rows: Record<string, unknown>[] }).rows[0]!.run)).toBe(run);
});

test("property: any run and attachments survive the line format unchanged", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(fc.record({ name: fc.string(), content_type: fc.string(), size: fc.nat(), content_base64: fc.base64String() })), (run, files) => {
      const [m] = messagesOf([part({ run: JSON.stringify(run), attachments: JSON.stringify(files) })], RECEIVED);
      expect(runLines(message(m!.value))).toHaveLength(1);
      const r = runRows(message(m!.value));
      expect(r.ok).toBe(true);
      const row = (r as { rows: Record<string, unknown>[] }).rows[0]!;
      expect(JSON.parse(String(row.run))).toEqual(JSON.parse(JSON.stringify(run)));
      // The line is the row as JSON.stringify writes it, the run and attachments as sent.
      const { run: sentRun, attachments: sentFiles, ...head } = part({ run: JSON.stringify(run), attachments: JSON.stringify(files) });
      expect(m!.value).toBe(`${JSON.stringify({ ...head, received_at: new Date(RECEIVED).toISOString() }).slice(0, -1)},"run":${sentRun},"attachments":${sentFiles}}`);
      expect(JSON.parse(String(row.attachments))).toEqual(files);
    }),
  );
});

test("property: a line is the row as JSON.stringify writes it, whatever its strings hold", () => {
  fc.assert(
    fc.property(fc.record({ org_id: fc.string(), workspace_id: fc.string(), trace_id: fc.string(), run_id: fc.string(), part: fc.string(), trace_created_at: fc.string(), expires_at: fc.string() }), fc.jsonValue(), (head, run) => {
      const [m] = messagesOf([part({ ...head, run: JSON.stringify({ run }), attachments: "[]" })], RECEIVED);
      expect(JSON.parse(m!.value)).toEqual({ ...head, received_at: new Date(RECEIVED).toISOString(), run: JSON.parse(JSON.stringify({ run })), attachments: [] });
      expect(m!.value).toBe(`${JSON.stringify({ ...head, received_at: new Date(RECEIVED).toISOString() }).slice(0, -1)},"run":${JSON.stringify({ run })},"attachments":[]}`);
    }),
  );
});

test("a message that is not ingest's lines is not appended as it is, and a bad one is refused with its line", () => {
  const good = messagesOf([part()], RECEIVED)[0]!.value;
  expect(runLines(message(good.replace('"org_id"', '"org"')))).toBeNull();
  expect(runLines(message(good.replace('"part":"post"', '"part":"x"')))).toBeNull();
  expect(runLines(message(`${good}\n{"org_id":"o"}`))).toBeNull();
  expect(runLines(message(""))).toBeNull();
  const missing = runRows(message(`${good}\n${good.replace(/"expires_at":"[^"]+",/, "")}`));
  expect(missing).toEqual({ ok: false, reason: expect.stringMatching(/^line 2: expires_at/) });
  expect(runRows(message(`${good}\nnot json`))).toEqual({ ok: false, reason: "line 2 is not JSON" });
  // The first format is still read.
  const bundle = runRows(message(JSON.stringify({ parts: [part()] })));
  expect(bundle.ok).toBe(true);
  expect(runLines(message(JSON.stringify({ parts: [part()] })))).toBeNull();
});
