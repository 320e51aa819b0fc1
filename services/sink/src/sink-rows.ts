import { bookingPeriod, CANONICAL_INSTANT, isPeriodKey, periodKeyOf } from "@ledger/billing";
import { ACCOUNT_EVENTS, billingEvent, BOOKED_PERIOD_HEADER, internalAlternative, internalEvent, internalRejection, internalUpgrade, periodClosed, RECEIVED_AT_HEADER, validateOf } from "@ledger/events";
import { headerString, type ConsumedMessage } from "@ledger/kafka";
import { storedRunBundle, storedRunLine } from "@ledger/langsmith";

/** "2024-06-30T23:59:59.999Z" → "2024-06-30 23:59:59.999", what DateTime64(3, 'UTC') reads. */
const toDateTime64 = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;

function receivedAt(message: ConsumedMessage): string {
  const ms = Number(headerString(message, RECEIVED_AT_HEADER) ?? message.timestamp);
  return toDateTime64(new Date(Number.isFinite(ms) ? ms : Date.now()).toISOString());
}

export type RowResult = { ok: true; row: Record<string, unknown> } | { ok: true; rows: Record<string, unknown>[] } | { ok: false; reason: string };

function parse(message: ConsumedMessage): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(message.value?.toString() ?? "") };
  } catch {
    return { ok: false, reason: "value is not JSON" };
  }
}

/** One row of `trace_events_v1` per input event; `closedThrough`: what its partition had closed (C2). */
export function traceEventRow(message: ConsumedMessage, partition: number, closedThrough: string | null = null): RowResult {
  const json = parse(message);
  if (!json.ok) return json;
  const r = internalEvent.safeParse(json.value);
  if (!r.success) return { ok: false, reason: r.error.message };
  const e = r.data;
  const period = periodKeyOf(Date.parse(e.occurred_at));
  return {
    ok: true,
    row: {
      ...e,
      occurred_at: toDateTime64(e.occurred_at),
      period,
      booked_period: bookingPeriod(period, closedThrough),
      received_at: receivedAt(message),
      kafka_partition: partition,
      kafka_offset: message.offset,
    },
  };
}

/** One row of `retention_upgrades_v1` per upgrade. */
export function upgradeRow(message: ConsumedMessage): RowResult {
  const json = parse(message);
  if (!json.ok) return json;
  const r = internalUpgrade.safeParse(json.value);
  if (!r.success) return { ok: false, reason: r.error.message };
  const u = r.data;
  const period = periodKeyOf(Date.parse(u.occurred_at));
  // Booked by the upgrader where it processed the cause (C2); upgrades written before invoices
  // existed carry no header and were in time.
  const booked = headerString(message, BOOKED_PERIOD_HEADER) ?? period;
  if (!isPeriodKey(booked)) return { ok: false, reason: `header ${BOOKED_PERIOD_HEADER} must be a period YYYY-MM` };
  return {
    ok: true,
    row: {
      org_id: u.org_id,
      id: u.id,
      occurred_at: toDateTime64(u.occurred_at),
      period,
      booked_period: booked,
      workspace_id: u.workspace_id,
      trace_id: u.trace_id,
      cause_type: u.cause.type,
      cause_event_id: u.cause.event_id,
      cause_source: u.cause.source ?? "",
      project_id: u.project_id ?? "",
      received_at: receivedAt(message),
    },
  };
}

/** One row of `trigger_rejections_v1` per refused trigger. */
export function rejectionRow(message: ConsumedMessage): RowResult {
  const json = parse(message);
  if (!json.ok) return json;
  const r = internalRejection.safeParse(json.value);
  if (!r.success) return { ok: false, reason: r.error.message };
  const x = r.data;
  return {
    ok: true,
    row: {
      ...x,
      occurred_at: toDateTime64(x.occurred_at),
      trace_created_at: toDateTime64(x.trace_created_at),
      expired_at: toDateTime64(x.expired_at),
    },
  };
}

/** One row of `upgrade_alternatives_v1` per alternative trigger (§4.1), under its upgrade's period. */
export function alternativeRow(message: ConsumedMessage): RowResult {
  const json = parse(message);
  if (!json.ok) return json;
  const r = internalAlternative.safeParse(json.value);
  if (!r.success) return { ok: false, reason: r.error.message };
  const a = r.data;
  return {
    ok: true,
    row: { ...a, upgraded_period: periodKeyOf(Date.parse(a.upgraded_at)), occurred_at: toDateTime64(a.occurred_at), upgraded_at: toDateTime64(a.upgraded_at) },
  };
}

/** One row of `account_events_v1` per account event (§7); keys only as their hashes. */
/** `closedThrough`: the latest period closed before the message in its partition (null: none). */
export function accountRow(message: ConsumedMessage, partition: number, closedThrough: string | null = null): RowResult {
  const json = parse(message);
  if (!json.ok) return json;
  const r = validateOf(ACCOUNT_EVENTS, json.value);
  if (!r.ok) return { ok: false, reason: r.problems.map((p) => `${p.field} ${p.reason}`).join("; ") };
  return {
    ok: true,
    row: {
      ...r.event,
      occurred_at: toDateTime64(r.event.occurred_at),
      received_at: receivedAt(message),
      closed_before: closedThrough ?? "",
      kafka_partition: partition,
      kafka_offset: message.offset,
    },
  };
}

const OCCURRED_AT = '"occurred_at":"';

/**
 * The fast path for trace events: the row as a JSONEachRow line built around the message value
 * without parsing it (the value was validated and normalized by ingest). The period is the first
 * seven characters of the canonical UTC instant, which is exactly its UTC month (P1). Returns
 * null when the value does not look like a normalized event; ClickHouse rejects anything else
 * in the line, and the sink then validates message by message (see Sink).
 */
export function traceEventLine(message: ConsumedMessage, partition: number, receivedAtCache: Map<string, string>, closedThrough: string | null = null): string | null {
  const value = message.value?.toString();
  if (!value || value[0] !== "{") return null;
  const at = value.indexOf(OCCURRED_AT);
  if (at < 0) return null;
  const occurred = value.slice(at + OCCURRED_AT.length, at + OCCURRED_AT.length + 24);
  if (!CANONICAL_INSTANT.test(occurred)) return null;
  const header = headerString(message, RECEIVED_AT_HEADER) ?? message.timestamp;
  let received = receivedAtCache.get(header);
  if (received === undefined) {
    const ms = Number(header);
    received = toDateTime64(new Date(Number.isFinite(ms) ? ms : Date.now()).toISOString());
    receivedAtCache.set(header, received);
  }
  const period = occurred.slice(0, 7);
  const booked = closedThrough === null || period > closedThrough ? period : bookingPeriod(period, closedThrough);
  return `{"period":"${period}","booked_period":"${booked}","received_at":"${received}","kafka_partition":${partition},"kafka_offset":${message.offset},${value.slice(1)}`;
}

/** Rows of `runs_v1`, one per stored part of a run (§9) in the message, expiry decided by ingest. */
export function runRows(message: ConsumedMessage): RowResult {
  const text = message.value?.toString() ?? "";
  if (!text.startsWith(BUNDLE)) return runLineRows(text);
  const json = parse(message);
  if (!json.ok) return json;
  const r = storedRunBundle.safeParse(json.value);
  if (!r.success) return { ok: false, reason: r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ") };
  const received = receivedAt(message);
  const rows: Record<string, unknown>[] = [];
  for (const p of r.data.parts) {
    if (!CANONICAL_INSTANT.test(p.trace_created_at) || !CANONICAL_INSTANT.test(p.expires_at)) return { ok: false, reason: "trace_created_at and expires_at must be canonical UTC instants" };
    rows.push({ ...p, trace_created_at: toDateTime64(p.trace_created_at), expires_at: toDateTime64(p.expires_at), received_at: received });
  }
  return { ok: true, rows };
}

const INSTANT = String.raw`"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"`;
/** Every field before the run, in `runMessagesOf`'s order; the run and attachments ClickHouse reads. */
const LINE_HEAD = new RegExp(String.raw`^\{"org_id":"[^"\\]+","workspace_id":"[^"\\]+","trace_id":"[^"\\]+","run_id":"[^"\\]+","part":"(?:post|patch:[0-9a-f]{16})","trace_created_at":${INSTANT},"expires_at":${INSTANT},"received_at":${INSTANT},"run":\{`);

/** The runs topic's first format (`storedRunBundle`); every other message is row lines. */
const BUNDLE = '{"parts":';

/** A message of row lines (`runMessagesOf`), each checked: what a refused insert falls back to. */
function runLineRows(text: string): RowResult {
  const rows: Record<string, unknown>[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return { ok: false, reason: `line ${i + 1} is not JSON` };
    }
    const r = storedRunLine.safeParse(value);
    if (!r.success) return { ok: false, reason: `line ${i + 1}: ${r.error.issues.map((x) => `${x.path.join(".")} ${x.message}`).join("; ")}` };
    const p = r.data;
    if (![p.trace_created_at, p.expires_at, p.received_at].every((t) => CANONICAL_INSTANT.test(t))) return { ok: false, reason: `line ${i + 1}: trace_created_at, expires_at and received_at must be canonical UTC instants` };
    // The run as it was sent, not zod's copy: a copy loses a key named "__proto__" (assigning it
    // sets the prototype), which JSON.parse keeps as a key (found by the line-format property).
    rows.push({ ...p, run: JSON.stringify((value as { run: unknown }).run), attachments: JSON.stringify(p.attachments), trace_created_at: toDateTime64(p.trace_created_at), expires_at: toDateTime64(p.expires_at), received_at: toDateTime64(p.received_at) });
  }
  return { ok: true, rows };
}

/**
 * A runs message's lines as they are, for an insert without parsing: null when it is not made
 * of lines that look like `runMessagesOf`'s (the first format, or anything else), which the
 * sink then reads with `runRows`. ClickHouse refuses a line with a field it does not know or a
 * value it cannot read; the sink then checks every message of the batch with `runRows`.
 */
export function runLines(message: ConsumedMessage): Buffer[] | null {
  const value = message.value;
  if (!value || value.length === 0 || value.subarray(0, BUNDLE.length).toString("latin1") === BUNDLE) return null;
  const lines: Buffer[] = [];
  for (let start = 0; start <= value.length; ) {
    let end = value.indexOf(NEWLINE, start);
    if (end < 0) end = value.length;
    const line = value.subarray(start, end);
    // The head is ASCII but for the ids, whose UTF-8 bytes read as Latin-1 are never `"` or `\`:
    // the pattern matches the bytes read so exactly when it matches the text.
    if (line.length < 2 || line[line.length - 2] !== CLOSE_BRACKET || line[line.length - 1] !== CLOSE_BRACE) return null;
    // Only the head is decoded: it ends at the first `"run":{` (no identifier holds a quote).
    const run = line.indexOf(RUN_FIELD);
    if (run < 0 || run > HEAD_BYTES || !LINE_HEAD.test(line.toString("latin1", 0, run + RUN_FIELD.length))) return null;
    lines.push(line);
    start = end + 1;
  }
  return lines;
}
const NEWLINE = 0x0a;
const RUN_FIELD = Buffer.from('"run":{');
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
/** Enough for the head of any line (four identifiers, three instants, the part); longer ones take the checked reading. */
const HEAD_BYTES = 2_048;

/** The `trace_events_v1` row of a seat or deployment-run event (§10.2), with its booking (C2). */
export function billingEventRow(message: ConsumedMessage, partition: number, closedThrough: string | null): RowResult {
  const json = parse(message);
  if (!json.ok) return json;
  const r = billingEvent.safeParse(json.value);
  if (!r.success) return { ok: false, reason: r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ") };
  const e = r.data;
  if (!CANONICAL_INSTANT.test(e.occurred_at)) return { ok: false, reason: "occurred_at must be a canonical UTC instant" };
  const period = e.occurred_at.slice(0, 7);
  return {
    ok: true,
    row: {
      ...e,
      occurred_at: toDateTime64(e.occurred_at),
      period,
      booked_period: bookingPeriod(period, closedThrough),
      received_at: receivedAt(message),
      kafka_partition: partition,
      kafka_offset: message.offset,
    },
  };
}

/** The period of a `period-closed` marker message, or why it is not one. */
export function markerPeriod(message: ConsumedMessage): { ok: true; period: string } | { ok: false; reason: string } {
  const json = parse(message);
  if (!json.ok) return json;
  const r = periodClosed.safeParse(json.value);
  return r.success ? { ok: true, period: r.data.period } : { ok: false, reason: r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ") };
}
