import { z } from "zod";
import { CANONICAL_INSTANT, formatInstant, parseInstant } from "@ledger/billing";

/** Ids, org/workspace/trace names: 1–128 chars of [A-Za-z0-9._:-] (spec §2). */
const ID_ALPHABET = /^[A-Za-z0-9._:-]+$/;
export const identifier = z
  .string({ error: (i) => (i.input === undefined ? "is required" : "must be a string") })
  .min(1, { error: "must not be empty" })
  .max(128, { error: "must be at most 128 characters" })
  .regex(ID_ALPHABET, { error: "may contain only A-Z a-z 0-9 . _ : -" })
  .meta({ id: "Identifier", description: "1–128 characters of A-Z a-z 0-9 . _ : -" });

/** RFC 3339 with Z or ±hh:mm → canonical UTC with milliseconds (finer digits truncated). */
export const instant = z
  .string({ error: (i) => (i.input === undefined ? "is required" : "must be a string") })
  .transform((text, ctx) => {
    const parsed = parseInstant(text);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.reason });
      return z.NEVER;
    }
    return formatInstant(parsed.epochMs);
  })
  // What the API's OpenAPI document says of it (a transform has no JSON Schema of its own).
  .meta({ type: "string", format: "date-time", description: "an RFC 3339 instant with Z or ±hh:mm" });

const common = {
  id: identifier,
  occurred_at: instant,
  org_id: identifier,
  workspace_id: identifier,
  trace_id: identifier,
};

export const traceCreated = z.strictObject({
  ...common,
  type: z.literal("trace-created"),
  project_id: identifier,
  retention: z.enum(["base", "extended"], { error: 'must be "base" or "extended"' }),
  /** Which default gave the trace its retention, where the ledger resolved it (the LangSmith API, L1): what attribution names (§4.1). */
  retention_default: z.enum(["project", "workspace"], { error: 'must be "project" or "workspace"' }).optional(),
});

export const feedbackAdded = z.strictObject({
  ...common,
  type: z.literal("feedback-added"),
  run_id: identifier,
  feedback_id: identifier,
  /** The feedback's key (`correctness`, `user_score`, …), when the API tier gives it: what attribution groups by (§4.1). */
  feedback_key: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }).max(128, { error: "must be at most 128 characters" }).optional(),
});

export const queueAdded = z.strictObject({
  ...common,
  type: z.literal("queue-added"),
  run_id: identifier,
  queue_id: identifier,
});

export const ruleMatched = z.strictObject({
  ...common,
  type: z.literal("rule-matched"),
  run_id: identifier,
  rule_id: identifier,
});

export const INPUT_EVENT_TYPES = ["trace-created", "feedback-added", "queue-added", "rule-matched"] as const;
export const TRIGGER_TYPES = ["feedback-added", "queue-added", "rule-matched"] as const;

export const inputEvent = z.discriminatedUnion("type", [traceCreated, feedbackAdded, queueAdded, ruleMatched]);

export const retentionUpgrade = z.strictObject({
  id: identifier,
  type: z.literal("retention-upgrade"),
  occurred_at: instant,
  org_id: identifier,
  workspace_id: identifier,
  trace_id: identifier,
  /** The trace's project as the upgrader knew it (absent when its creation was not seen yet). */
  project_id: identifier.optional(),
  cause: z.strictObject({
    type: z.enum(["trace-created", ...TRIGGER_TYPES]),
    event_id: identifier,
    /** What could be turned off (§4.1): `rule:<id>`, `queue:<id>`, `feedback:<key>`, `feedback`, `creation[:project|:workspace]`. */
    source: z.string().min(1).max(200).optional(),
  }),
});

/** The trigger a rejection or an alternative is about. */
const triggerNamed = {
  event_id: identifier,
  type: z.enum(TRIGGER_TYPES),
  occurred_at: instant,
  org_id: identifier,
  workspace_id: identifier,
  trace_id: identifier,
};

/**
 * A trigger of another source than an upgraded trace's cause, within the trace's base retention
 * (§4.1's savings), as written to the rejections topic with family `alternative`.
 */
export const upgradeAlternative = z.strictObject({
  ...triggerNamed,
  source: z.string().min(1).max(200),
  /** The upgrade's own source. */
  cause: z.string().min(1).max(200),
  upgraded_at: instant,
});

/** A trigger the upgrader refused (U4), as written to the rejections topic. */
export const triggerRejection = z.strictObject({
  ...triggerNamed,
  reason: z.literal("trace_expired"),
  trace_created_at: instant,
  expired_at: instant,
});

export type TraceCreated = z.output<typeof traceCreated>;
export type FeedbackAdded = z.output<typeof feedbackAdded>;
export type QueueAdded = z.output<typeof queueAdded>;
export type RuleMatched = z.output<typeof ruleMatched>;
export type InputEvent = z.output<typeof inputEvent>;
export type TriggerEvent = FeedbackAdded | QueueAdded | RuleMatched;
export type RetentionUpgrade = z.output<typeof retentionUpgrade>;
export type TriggerRejection = z.output<typeof triggerRejection>;
export type UpgradeAlternative = z.output<typeof upgradeAlternative>;

/**
 * Events as they travel inside the ledger (Kafka values), already normalized by ingest: the
 * same fields, with `occurred_at` in canonical UTC form, checked cheaply by a pattern.
 */
const canonicalInstant = z.string().regex(CANONICAL_INSTANT, { error: "must be canonical UTC (YYYY-MM-DDThh:mm:ss.mmmZ)" });
const internalCommon = { ...common, occurred_at: canonicalInstant };
export const internalEvent = z.discriminatedUnion("type", [
  traceCreated.extend(internalCommon),
  feedbackAdded.extend(internalCommon),
  queueAdded.extend(internalCommon),
  ruleMatched.extend(internalCommon),
]);
export const internalUpgrade = retentionUpgrade.extend({ occurred_at: canonicalInstant });
export const internalAlternative = upgradeAlternative.extend({ occurred_at: canonicalInstant, upgraded_at: canonicalInstant });
export const internalRejection = triggerRejection.extend({
  occurred_at: canonicalInstant,
  trace_created_at: canonicalInstant,
  expired_at: canonicalInstant,
});
