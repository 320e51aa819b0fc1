import { createHash } from "node:crypto";

export const BASE_RETENTION_MS = 14 * 24 * 60 * 60 * 1000;
export const EXTENDED_RETENTION_MS = 400 * 24 * 60 * 60 * 1000;

export type Retention = "base" | "extended";
export type TriggerType = "feedback-added" | "queue-added" | "rule-matched";

/** What the upgrader has learned about one trace, (org_id, trace_id). Facts only ever grow. */
export interface TraceState {
  readonly workspaceId: string;
  /** Creation time and tier, once a `trace-created` was seen. */
  readonly createdAtMs: number | null;
  readonly retention: Retention | null;
  /** When the trace was upgraded, once it was (U1: at most once, ever). */
  readonly upgradedAtMs: number | null;
}

export type TraceFact =
  | { kind: "created"; eventId: string; occurredAtMs: number; workspaceId: string; retention: Retention }
  | { kind: "trigger"; type: TriggerType; eventId: string; occurredAtMs: number; workspaceId: string };

export interface UpgradeEffect {
  occurredAtMs: number;
  workspaceId: string;
  cause: { type: TriggerType | "trace-created"; eventId: string };
}

export interface RejectionEffect {
  reason: "trace_expired";
  createdAtMs: number;
  expiresAtMs: number;
}

export interface UpgradeDecision {
  /** The state after the fact; the same object when nothing changed. */
  state: TraceState;
  upgrade: UpgradeEffect | null;
  rejection: RejectionEffect | null;
}

export const UNKNOWN_TRACE: TraceState = Object.freeze({
  workspaceId: "",
  createdAtMs: null,
  retention: null,
  upgradedAtMs: null,
});

export function expiresAtMs(createdAtMs: number, retention: Retention): number {
  return createdAtMs + (retention === "extended" ? EXTENDED_RETENTION_MS : BASE_RETENTION_MS);
}

/**
 * Rules U1–U5 for one fact of one trace, applied in log order (U3). Pure: the same state and
 * fact always give the same decision, which is what lets a re-processed batch after a crash
 * emit the same upgrade with the same time, or nothing.
 */
export function decideUpgrade(previous: TraceState | null, fact: TraceFact): UpgradeDecision {
  const state = previous ?? UNKNOWN_TRACE;
  if (fact.kind === "created") return onCreated(state, fact);
  return onTrigger(state, fact);
}

function onCreated(state: TraceState, fact: Extract<TraceFact, { kind: "created" }>): UpgradeDecision {
  // B2: a trace has one creation; a re-delivery or a second creation teaches nothing new.
  if (state.createdAtMs !== null) return { state, upgrade: null, rejection: null };
  const created: TraceState = {
    workspaceId: state.workspaceId || fact.workspaceId,
    createdAtMs: fact.occurredAtMs,
    retention: fact.retention,
    upgradedAtMs: state.upgradedAtMs,
  };
  if (fact.retention === "extended" && state.upgradedAtMs === null) {
    // U2: a trace recorded as extended is upgraded at its creation time.
    const upgrade: UpgradeEffect = {
      occurredAtMs: fact.occurredAtMs,
      workspaceId: created.workspaceId,
      cause: { type: "trace-created", eventId: fact.eventId },
    };
    return { state: { ...created, upgradedAtMs: fact.occurredAtMs }, upgrade, rejection: null };
  }
  return { state: created, upgrade: null, rejection: null };
}

function onTrigger(state: TraceState, fact: Extract<TraceFact, { kind: "trigger" }>): UpgradeDecision {
  if (state.upgradedAtMs !== null) return { state, upgrade: null, rejection: null }; // U1
  const workspaceId = state.workspaceId || fact.workspaceId;
  let at = fact.occurredAtMs;
  if (state.createdAtMs !== null && state.retention !== null) {
    const expiry = expiresAtMs(state.createdAtMs, state.retention);
    if (fact.occurredAtMs >= expiry) {
      // U4: the expiry instant itself is expired.
      return {
        state,
        upgrade: null,
        rejection: { reason: "trace_expired", createdAtMs: state.createdAtMs, expiresAtMs: expiry },
      };
    }
    at = Math.max(at, state.createdAtMs); // U2: never before the creation, when it is known
  }
  // U5: an unknown trace is upgraded at the trigger's time.
  return {
    state: { ...state, workspaceId, upgradedAtMs: at },
    upgrade: { occurredAtMs: at, workspaceId, cause: { type: fact.type, eventId: fact.eventId } },
    rejection: null,
  };
}

/**
 * The id of a trace's upgrade, from (org_id, trace_id) only, so every re-emission of it is the
 * same row at the sink (D1, D3).
 */
export function upgradeIdFor(orgId: string, traceId: string): string {
  const digest = createHash("sha256").update(orgId).update("\u0000").update(traceId).digest("hex");
  return `upgrade-${digest}`;
}
