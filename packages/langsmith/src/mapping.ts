import type { Retention } from "@ledger/events";
import type { EventCharge } from "@ledger/limits";
import type { FeedbackCreate, RunCreate, RunUpdate } from "./run";
import { CHARGED_FIELDS } from "./sent-run";

/** Where a request comes from: the key's organization and workspace (§8, L1). */
export interface RunContext {
  orgId: string;
  workspaceId: string;
  /** The project's default retention, else the workspace's, else base (L1). */
  retentionFor: (projectId: string) => Retention;
  /** Which default gave it (none: neither was configured). */
  retentionDefaultOf?: (projectId: string) => "project" | "workspace" | null;
  /** The time of receipt (the ledger's clock), for L2 and L3. */
  receivedAt: string;
}

/** A wire event as `POST /v1/events` takes it: the same validation follows. */
export type WireEvent = Record<string, unknown>;

/** start_time / end_time: RFC 3339 strings or epoch milliseconds (the SDK sends both). */
export const instantOf = (value: string | number | undefined | null, fallback: string): string =>
  value === undefined || value === null ? fallback : typeof value === "number" ? new Date(value).toISOString() : value;

/** The run's own trace: its `trace_id`, or its id for a root run sent without one. */
export const traceOf = (run: RunCreate | RunUpdate): string | undefined => run.trace_id ?? (run.parent_run_id ? undefined : run.id);

/** L1: the first creation of a root run becomes `trace-created`; its id derives from the run's (L5). */
export function traceCreatedOf(run: RunCreate, ctx: RunContext): WireEvent | null {
  if (run.parent_run_id) return null;
  if (run.trace_id !== undefined && run.trace_id !== run.id) return null; // a child sent without its parent id
  const project = run.session_name ?? run.session_id ?? "default";
  return {
    id: `run:${run.id}`,
    type: "trace-created",
    occurred_at: instantOf(run.start_time, ctx.receivedAt),
    org_id: ctx.orgId,
    workspace_id: ctx.workspaceId,
    trace_id: run.id,
    project_id: project,
    retention: ctx.retentionFor(project),
    ...retentionDefault(ctx, project),
  };
}

const retentionDefault = (ctx: RunContext, project: string) => {
  const from = ctx.retentionDefaultOf?.(project) ?? null;
  return from === null ? {} : { retention_default: from };
};

const sizeOf = (value: unknown) => (value === undefined || value === null ? 0 : Buffer.byteLength(JSON.stringify(value)));

/**
 * L4, §6.2: every creation and update of a run is one event, idempotent by run id and kind
 * (a retried request counts once); its bytes are those of `inputs`, `outputs` and `extra` as
 * sent, plus its attachments. A field sent as a multipart part of its own counts that part's
 * bytes (`sentBytes`); one inside a JSON run, its JSON text.
 */
export function runCharge(run: RunCreate | RunUpdate, kind: "post" | "patch", runId: string, ctx: RunContext, attachmentBytes = 0, sentBytes?: ReadonlyMap<string, number>): EventCharge {
  const trace = traceOf(run);
  const creates = kind === "post" && !run.parent_run_id && (run.trace_id === undefined || run.trace_id === runId);
  let bytes = attachmentBytes;
  for (const field of CHARGED_FIELDS) bytes += sentBytes?.get(field) ?? sizeOf(run[field]);
  return {
    orgId: ctx.orgId,
    workspaceId: ctx.workspaceId,
    eventId: `${kind}:${runId}`,
    bytes,
    ...(creates && trace ? { createsTrace: trace } : {}),
  };
}

/** L2: feedback always upgrades its trace, whatever `extend_trace_retention` says. */
export function feedbackAddedOf(feedback: FeedbackCreate, traceId: string, ctx: RunContext): WireEvent {
  return {
    id: `feedback:${feedback.id}`,
    type: "feedback-added",
    occurred_at: instantOf(feedback.created_at, ctx.receivedAt),
    org_id: ctx.orgId,
    workspace_id: ctx.workspaceId,
    trace_id: traceId,
    run_id: feedback.run_id,
    feedback_id: feedback.id,
    // The SDK sends the key of every feedback; attribution groups upgrades by it (§4.1).
    ...(typeof feedback.key === "string" && feedback.key !== "" ? { feedback_key: feedback.key.slice(0, 128) } : {}),
  };
}

/** L3: one `queue-added` per run, at the time of receipt. */
export function queueAddedOf(queueId: string, runId: string, traceId: string, ctx: RunContext): WireEvent {
  return {
    id: `queue:${queueId}:${runId}`,
    type: "queue-added",
    occurred_at: ctx.receivedAt,
    org_id: ctx.orgId,
    workspace_id: ctx.workspaceId,
    trace_id: traceId,
    run_id: runId,
    queue_id: queueId,
  };
}
