/**
 * RFC 3339 date-time with `Z` or a `±hh:mm` offset. Digits after the milliseconds are
 * truncated, never rounded (spec §2), so a trace created at 23:59:59.9999 stays in its month.
 *
 * Hand-written rather than luxon: it runs once per ingested event, and a property test checks
 * it against luxon's ISO parser (billing/test/instant.property.test.ts).
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** ClickHouse's DateTime64 covers 1900–2299; the ledger accepts a narrower, sane range. */
export const EARLIEST_INSTANT_MS = Date.UTC(1970, 0, 1);
export const LATEST_INSTANT_MS = Date.UTC(2200, 0, 1) - 1;

export type InstantParse = { ok: true; epochMs: number } | { ok: false; reason: string };

const RANGE_HINT = "must be between 1970-01-01T00:00:00Z and 2199-12-31T23:59:59.999Z";
const FORMAT_HINT = "must be an RFC 3339 date-time with Z or a ±hh:mm offset, e.g. 2024-06-30T23:59:59.999Z";

export function parseInstant(text: string): InstantParse {
  const m = RFC3339.exec(text);
  if (!m) return { ok: false, reason: FORMAT_HINT };
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number,
  ];
  // Also keeps Date.UTC away from years 0–99, which it would read as 1900–1999.
  if (year < 1969 || year > 2200) return { ok: false, reason: RANGE_HINT };
  if (month < 1 || month > 12) return { ok: false, reason: `has no month ${month}` };
  if (day < 1 || day > daysInMonth(year, month)) return { ok: false, reason: `has no day ${day} in ${m[1]}-${m[2]}` };
  if (hour > 23 || minute > 59 || second > 59) return { ok: false, reason: `has no time ${m[4]}:${m[5]}:${m[6]}` };
  const millis = Number(((m[7] ?? "") + "000").slice(0, 3));
  let offsetMinutes = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return { ok: false, reason: `has no offset ${m[9]}${m[10]}:${m[11]}` };
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  if (epochMs < EARLIEST_INSTANT_MS || epochMs > LATEST_INSTANT_MS) {
    return { ok: false, reason: RANGE_HINT };
  }
  return { ok: true, epochMs };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Canonical wire form of an instant: UTC, millisecond precision, `Z`. */
export function formatInstant(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** The canonical form only, as events carry it inside the ledger after ingest. */
export const CANONICAL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
