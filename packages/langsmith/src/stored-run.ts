import { createHash } from "node:crypto";
import { z } from "zod";
import { expiresAtMs } from "@ledger/billing";
import { identifier, type Retention } from "@ledger/events";
import type { RunCreate, RunUpdate } from "./run";
import { instantOf, traceOf, type RunContext } from "./mapping";

/**
 * A run's data as the ledger keeps it (§9): one row per creation and per distinct update of a
 * run, published to the runs topic and stored by the sink in `runs_v1`. The row carries its own
 * expiry, so ClickHouse deletes it by TTL: 14 days from the trace's creation for a base trace,
 * 400 for an extended one (R1). An upgrade does not rewrite a row: it adds a copy with the
 * later expiry (see `keepRunsExtended`), and the earlier copy expires on its own.
 */
export const storedAttachment = z.object({
  name: z.string(),
  content_type: z.string(),
  size: z.number().int().nonnegative(),
  /** The attachment's bytes, base64 (ClickHouse strings are bytes, JSON lines are not). */
  content_base64: z.string(),
});
export type StoredAttachment = z.output<typeof storedAttachment>;

export const storedRunPart = z.strictObject({
  org_id: identifier,
  workspace_id: identifier,
  trace_id: identifier,
  run_id: identifier,
  /** `post`, or `patch:<digest of the update>`: a retried request writes the same part again. */
  part: z.string().regex(/^(post|patch:[0-9a-f]{16})$/, { error: "must be post or patch:<16 hex digits>" }),
  trace_created_at: z.string(),
  expires_at: z.string(),
  /** The run's fields as the client sent them (inputs, outputs, extra, times, names, …), JSON. */
  run: z.string(),
  /** JSON array of StoredAttachment. */
  attachments: z.string(),
});
export type StoredRunPart = z.output<typeof storedRunPart>;

/**
 * The runs topic's first message format, still read: the parts of one trace as one JSON object.
 * Written by ingest before the row lines below (a run stored twice over in JSON: escaped in its
 * part, parsed, checked and serialized again by the sink).
 */
export const storedRunBundle = z.strictObject({ parts: z.array(storedRunPart).min(1) });

/**
 * A line of the runs topic's messages: a `runs_v1` row as ClickHouse's JSONEachRow reads it,
 * the run and its attachments as JSON values (ClickHouse keeps an object's text as the string
 * column's value), so the sink appends the lines as they are.
 */
export const storedRunLine = storedRunPart.extend({
  run: z.record(z.string(), z.unknown()),
  attachments: z.array(storedAttachment),
  received_at: z.string(),
});

/**
 * A runs message's size beyond which the next line starts a new message: well under Kafka's
 * default `message.max.bytes` (1 MB) and the embedded broker's per-partition room.
 */
export const RUN_MESSAGE_BYTES = 256 * 1024;

/**
 * The runs topic's messages for one request's rows: one JSON line per row, as many rows to a
 * message as fit in `RUN_MESSAGE_BYTES` (a line longer than that is a message of its own). Each
 * line names its own trace, so a message may hold several traces' rows: a record of the broker,
 * the producer and the consumer costs per message, not per row, and a request of a hundred
 * traces is one message instead of a hundred. Keyed by the first line's trace, so a retried
 * request sends each message to the same partition again. `receivedAtMs`: when ingest received
 * them. Each message is written as UTF-8 straight into a buffer of its size: no line or
 * message is built as a string first, to be scanned, copied and encoded again by the producer.
 */
export function runMessagesOf(parts: readonly StoredRunPart[], receivedAtMs: number): { orgId: string; traceId: string; value: Buffer }[] {
  const receivedAt = JSON.stringify(new Date(receivedAtMs).toISOString());
  const text = JSON.stringify;
  // Each row's line in three pieces: the fields before the run in storedRunLine's order (each
  // string a JSON string as JSON.stringify writes it), the run's text, and the attachments'.
  // `run` and `attachments` are JSON texts already: spliced in, not escaped a second time.
  const lines = parts.map((p) => {
    const head = `{"org_id":${text(p.org_id)},"workspace_id":${text(p.workspace_id)},"trace_id":${text(p.trace_id)},"run_id":${text(p.run_id)},"part":${text(p.part)},"trace_created_at":${text(p.trace_created_at)},"expires_at":${text(p.expires_at)},"received_at":${receivedAt},"run":`;
    const tail = `,"attachments":${p.attachments}}`;
    return { head, run: p.run, tail, bytes: Buffer.byteLength(head) + Buffer.byteLength(p.run) + Buffer.byteLength(tail) };
  });
  const messages: { orgId: string; traceId: string; value: Buffer }[] = [];
  for (let from = 0; from < lines.length; ) {
    // As many lines as fit, a newline between each two; at least one.
    let to = from + 1;
    let bytes = lines[from]!.bytes;
    while (to < lines.length && bytes + 1 + lines[to]!.bytes <= RUN_MESSAGE_BYTES) bytes += 1 + lines[to++]!.bytes;
    const value = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let i = from; i < to; i++) {
      if (i > from) value[at++] = 0x0a;
      const line = lines[i]!;
      at += value.write(line.head, at);
      at += value.write(line.run, at);
      at += value.write(line.tail, at);
    }
    // Never a byte of the buffer left unwritten (allocUnsafe's memory is whatever was there).
    if (at !== bytes) throw new Error(`run message: ${at} bytes written of ${bytes}`);
    messages.push({ orgId: parts[from]!.org_id, traceId: parts[from]!.trace_id, value });
    from = to;
  }
  return messages;
}

/** Where a run's trace started and how it was retained at creation, as the ledger knows it. */
export interface TraceAnchor {
  createdAtMs: number;
  retention: Retention;
}

const digest = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
const msOf = (instant: string) => Date.parse(instant);

/**
 * The anchor of a trace whose root run is `run` (L1: creation at its start_time, retention of
 * its project), or null when `run` is not a root.
 */
export function rootAnchorOf(run: RunCreate, ctx: RunContext): TraceAnchor | null {
  const trace = traceOf(run);
  if (run.parent_run_id || trace !== run.id) return null;
  return { createdAtMs: msOf(instantOf(run.start_time, ctx.receivedAt)), retention: ctx.retentionFor(run.session_name ?? run.session_id ?? "default") };
}

/**
 * The stored rows of one request's runs. `traceOfRun` gives the trace of each update (the caller
 * decides where an update goes: the trace it names, its run's, or none: then it is not kept) and
 * of a creation that names none. `anchorOf` gives each trace's anchor as the ledger
 * knows it (the root run of this request or of an earlier one); a trace whose root is not known
 * yet is anchored at the start of its first run here, with that run's project's retention: a
 * stand-in, returned so that later runs of the trace use the same one until the root arrives.
 * `textOf` gives a run's JSON text as the client sent it, where known (multipart bodies): stored
 * as it is instead of serializing the run again.
 */
export function storedRunPartsOf(
  posts: readonly RunCreate[],
  patches: readonly (RunUpdate & { id: string })[],
  attachments: ReadonlyMap<string, readonly StoredAttachment[]>,
  ctx: RunContext,
  traceOfRun: (runId: string) => string | undefined,
  anchorOf: (traceId: string) => TraceAnchor | undefined,
  textOf: (kind: "post" | "patch", runId: string) => string | undefined = () => undefined,
): { parts: StoredRunPart[]; standIns: Map<string, TraceAnchor> } {
  const rows: StoredRunPart[] = [];
  const standIns = new Map<string, TraceAnchor>();
  // The two instants of a trace's rows, written once per trace rather than once per run.
  const instants = new Map<string, { createdAt: string; expiresAt: string }>();
  const add = (run: RunCreate | (RunUpdate & { id: string }), kind: "post" | "patch", part: string, files: readonly StoredAttachment[]) => {
    const traceId = kind === "patch" ? traceOfRun(run.id) : (traceOf(run) ?? traceOfRun(run.id));
    if (traceId === undefined) return; // an update with nowhere to go: nothing to keep it with
    let at = instants.get(traceId);
    if (at === undefined) {
      let anchor = anchorOf(traceId) ?? standIns.get(traceId);
      if (anchor === undefined) {
        anchor = { createdAtMs: msOf(instantOf(run.start_time, ctx.receivedAt)), retention: ctx.retentionFor(run.session_name ?? run.session_id ?? "default") };
        standIns.set(traceId, anchor);
      }
      at = { createdAt: new Date(anchor.createdAtMs).toISOString(), expiresAt: new Date(expiresAtMs(anchor.createdAtMs, anchor.retention)).toISOString() };
      instants.set(traceId, at);
    }
    rows.push({
      org_id: ctx.orgId,
      workspace_id: ctx.workspaceId,
      trace_id: traceId,
      run_id: run.id,
      part,
      trace_created_at: at.createdAt,
      expires_at: at.expiresAt,
      run: textOf(kind, run.id) ?? JSON.stringify(run),
      attachments: files.length === 0 ? "[]" : JSON.stringify(files),
    });
  };
  const posted = new Set(posts.map((p) => p.id));
  for (const run of posts) add(run, "post", "post", attachments.get(run.id) ?? []);
  for (const run of patches) {
    const files = posted.has(run.id) ? [] : (attachments.get(run.id) ?? []);
    add(run, "patch", `patch:${digest({ run, files: files.map((f) => [f.name, f.size]) })}`, files);
  }
  return { parts: rows, standIns };
}

/** A stored run as `GET /runs/{id}` answers it: the creation with every update laid over it. */
export interface ServedRun {
  [field: string]: unknown;
  id: string;
  trace_id: string;
  attachments: Record<string, { content_type: string; size: number; content_base64: string }>;
  retained_until: string;
}

/** Parts in the order they were received; null when no creation or update is retained. */
export function servedRunOf(parts: readonly { run: string; attachments: string; retained_until: string; trace_id: string }[]): ServedRun | null {
  if (parts.length === 0) return null;
  const fields: Record<string, unknown> = {};
  const files: ServedRun["attachments"] = {};
  let until = "";
  for (const part of parts) {
    const run = JSON.parse(part.run) as Record<string, unknown>;
    // An update carries only what changed; null is a value, absent is not.
    for (const [k, v] of Object.entries(run)) if (v !== undefined) fields[k] = v;
    for (const f of JSON.parse(part.attachments) as StoredAttachment[]) files[f.name] = { content_type: f.content_type, size: f.size, content_base64: f.content_base64 };
    if (part.retained_until > until) until = part.retained_until;
  }
  return { ...fields, id: String(fields.id), trace_id: parts[0]!.trace_id, attachments: files, retained_until: until };
}
