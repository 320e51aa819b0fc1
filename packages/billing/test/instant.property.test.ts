import fc from "fast-check";
import { DateTime } from "luxon";
import { describe, expect, test } from "vitest";
import { formatInstant, parseInstant } from "../src";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** RFC 3339 texts, valid or not (day 31 in a 30-day month, hour 24…), with offsets and 0–9 fraction digits. */
const rfc3339 = fc
  .record({
    year: fc.integer({ min: 1971, max: 2198 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
    hour: fc.integer({ min: 0, max: 24 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 0, maxLength: 9 }),
    offset: fc.oneof(
      fc.constant("Z"),
      fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([s, h, m]) => `${s}${pad(h)}:${pad(m)}`),
    ),
  })
  .map((r) => ({
    ...r,
    text: `${pad(r.year, 4)}-${pad(r.month)}-${pad(r.day)}T${pad(r.hour)}:${pad(r.minute)}:${pad(r.second)}${r.fraction ? `.${r.fraction}` : ""}${r.offset}`,
  }));

describe("instants (spec §2)", () => {
  test("parse agrees with luxon on validity and on the instant, truncating to milliseconds", () => {
    fc.assert(
      fc.property(rfc3339, (r) => {
        // Reference: luxon on the text with the fraction cut to 3 digits (truncation, not rounding).
        const ms = r.fraction ? `.${(r.fraction + "000").slice(0, 3)}` : "";
        const text = `${pad(r.year, 4)}-${pad(r.month)}-${pad(r.day)}T${pad(r.hour)}:${pad(r.minute)}:${pad(r.second)}${ms}${r.offset}`;
        const reference = DateTime.fromISO(text, { setZone: true });
        const parsed = parseInstant(r.text);
        // Luxon follows ISO 8601, which allows 24:00:00 (the end of a day); RFC 3339's time-hour
        // is 00–23 (§5.6), so the ledger refuses it. Found by this test with 1971-01-01T24:00:00.
        const referenceValid = reference.isValid && r.hour < 24;
        expect(parsed.ok).toBe(referenceValid);
        if (parsed.ok) expect(parsed.epochMs).toBe(reference.toMillis());
      }),
      { numRuns: 5_000 },
    );
  });

  test("the canonical form round-trips", () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) - 1 }), (ms) => {
        const parsed = parseInstant(formatInstant(ms));
        expect(parsed).toEqual({ ok: true, epochMs: ms });
      }),
    );
  });

  test("examples: offsets convert to UTC first, sub-millisecond digits are truncated", () => {
    expect(parseInstant("2024-07-01T01:30:00+02:00")).toEqual({ ok: true, epochMs: Date.parse("2024-06-30T23:30:00.000Z") });
    expect(parseInstant("2024-06-30T23:59:59.9999999Z")).toEqual({ ok: true, epochMs: Date.parse("2024-06-30T23:59:59.999Z") });
    expect(parseInstant("2024-02-29T12:00:00Z").ok).toBe(true);
    expect(parseInstant("2023-02-29T12:00:00Z")).toMatchObject({ ok: false, reason: expect.stringMatching(/no day 29/) });
    expect(parseInstant("2024-06-30 23:59:59Z")).toMatchObject({ ok: false, reason: expect.stringMatching(/RFC 3339/) });
    expect(parseInstant("2024-06-30T23:59:59")).toMatchObject({ ok: false });
    expect(parseInstant("0070-01-01T00:00:00Z")).toMatchObject({ ok: false, reason: expect.stringMatching(/between/) });
    expect(parseInstant("1971-01-01T24:00:00Z")).toMatchObject({ ok: false, reason: expect.stringMatching(/no time 24:00:00/) });
  });
});
