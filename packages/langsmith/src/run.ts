import { z } from "zod";
import { identifier } from "@ledger/events";

/**
 * What the ledger reads of a LangSmith run (spec §8; `../shared/notes/langsmith-sdk.md`). The SDK
 * sends many more fields, kept as they are (they are the platform's, not the ledger's): only the
 * fields the mapping needs are checked, each with a reason naming it.
 */
const TIME = "must be an RFC 3339 string or epoch milliseconds";
const time = z.union([z.string().refine((s) => !Number.isNaN(Date.parse(s)), { error: TIME }), z.number().finite()], { error: TIME });
const text = z.string({ error: "must be a string" });
export const runCreate = z.looseObject({
  id: identifier,
  trace_id: identifier.optional(),
  parent_run_id: identifier.nullish(),
  start_time: time.optional(),
  end_time: time.nullish(),
  session_name: text.nullish(),
  session_id: text.nullish(),
  inputs: z.unknown().optional(),
  outputs: z.unknown().optional(),
  extra: z.unknown().optional(),
}).meta({ id: "Run", description: "A LangSmith run: the fields the ledger reads; every other field is kept as sent" });
export const runUpdate = runCreate.partial({ id: true }).meta({ id: "RunUpdate" });
export type RunCreate = z.output<typeof runCreate>;
export type RunUpdate = z.output<typeof runUpdate>;

export const feedbackCreate = z.looseObject({
  id: identifier,
  run_id: identifier,
  trace_id: identifier.nullish(),
  created_at: time.nullish(),
}).meta({ id: "Feedback", description: "LangSmith feedback: the fields the ledger reads; every other field is kept as sent" });
export type FeedbackCreate = z.output<typeof feedbackCreate>;

/** `POST /annotation-queues/{id}/runs`: run ids; `…/runs/by-key`: run keys. */
export const queueRunIds = z.array(identifier, { error: "must be a JSON array of run ids" });
export const queueRunKeys = z.array(z.looseObject({ run_id: identifier }), { error: "must be a JSON array of {run_id, session_id, start_time}" });
