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
  /** The trace's project, from its creation; "" until a creation is seen. */
  readonly projectId: string;
  /** The source that upgraded it (a fact's `source`); "" when not upgraded, or upgraded before sources were recorded. */
  readonly cause: string;
  /** Whether a trigger of another source than `cause` came while the trace was still within its base retention (§4.1's savings). */
  readonly alternative: boolean;
}

/**
 * `source` names what could be turned off (§4.1): `rule:<id>`, `queue:<id>`, `feedback:<key>`,
 * `feedback` (no key given); a creation's is `creation`, `creation:project` or
 * `creation:workspace` (which default made it extended).
 */
export type TraceFact =
  | { kind: "created"; eventId: string; occurredAtMs: number; workspaceId: string; retention: Retention; projectId: string; source: string }
  | { kind: "trigger"; type: TriggerType; eventId: string; occurredAtMs: number; workspaceId: string; source: string };

export interface UpgradeEffect {
  occurredAtMs: number;
  workspaceId: string;
  /** The trace's project as known at the upgrade ("" when its creation was not seen yet). */
  projectId: string;
  cause: { type: TriggerType | "trace-created"; eventId: string; source: string };
}

/**
 * A trigger of another source than the upgrade's cause, within the trace's base retention: it
 * would have upgraded the trace had the cause been off. Reported once per trace.
 */
export interface AlternativeEffect {
  source: string;
  /** The upgrade's source. */
  cause: string;
  upgradedAtMs: number;
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
  alternative?: AlternativeEffect;
}

export const UNKNOWN_TRACE: TraceState = Object.freeze({
  workspaceId: "",
  createdAtMs: null,
  retention: null,
  upgradedAtMs: null,
  projectId: "",
  cause: "",
  alternative: false,
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
    ...state,
    workspaceId: state.workspaceId || fact.workspaceId,
    createdAtMs: fact.occurredAtMs,
    retention: fact.retention,
    projectId: state.projectId || fact.projectId,
  };
  if (fact.retention === "extended" && state.upgradedAtMs === null) {
    // U2: a trace recorded as extended is upgraded at its creation time.
    const upgrade: UpgradeEffect = {
      occurredAtMs: fact.occurredAtMs,
      workspaceId: created.workspaceId,
      projectId: created.projectId,
      cause: { type: "trace-created", eventId: fact.eventId, source: fact.source },
    };
    return { state: { ...created, upgradedAtMs: fact.occurredAtMs, cause: fact.source }, upgrade, rejection: null };
  }
  return { state: created, upgrade: null, rejection: null };
}

function onTrigger(state: TraceState, fact: Extract<TraceFact, { kind: "trigger" }>): UpgradeDecision {
  if (state.upgradedAtMs !== null) return onUpgradedTrigger(state, fact); // U1
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
    state: { ...state, workspaceId, upgradedAtMs: at, cause: fact.source },
    upgrade: { occurredAtMs: at, workspaceId, projectId: state.projectId, cause: { type: fact.type, eventId: fact.eventId, source: fact.source } },
    rejection: null,
  };
}

/** A trigger after the upgrade changes nothing billed; it may be the alternative §4.1's savings need. */
function onUpgradedTrigger(state: TraceState, fact: Extract<TraceFact, { kind: "trigger" }>): UpgradeDecision {
  const unchanged = { state, upgrade: null, rejection: null };
  // A creation cannot be turned off, so nothing is saved from it; one alternative is enough; an
  // upgrade whose source was never recorded has nothing to compare with.
  if (state.alternative || state.cause === "" || fact.source === state.cause || state.cause.startsWith("creation")) return unchanged;
  // Had the cause been off, the trace would have been base: a trigger at or after that expiry upgrades nothing (U4).
  if (state.createdAtMs !== null && fact.occurredAtMs >= state.createdAtMs + BASE_RETENTION_MS) return unchanged;
  const alternative = { source: fact.source, cause: state.cause, upgradedAtMs: state.upgradedAtMs! };
  return { state: { ...state, alternative: true }, upgrade: null, rejection: null, alternative };
}

/**
 * The id of a trace's upgrade, from (org_id, trace_id) only, so every re-emission of it is the
 * same row at the sink (D1, D3).
 */
export function upgradeIdFor(orgId: string, traceId: string): string {
  const digest = createHash("sha256").update(orgId).update("\u0000").update(traceId).digest("hex");
  return `upgrade-${digest}`;
}
