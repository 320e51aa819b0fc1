import type { z } from "zod";
import { INPUT_EVENT_TYPES, inputEvent, type InputEvent } from "./schemas";

/** One reason an event was refused: which field and why (D4). */
export interface FieldProblem {
  field: string;
  reason: string;
}

export type EventValidation = { ok: true; event: InputEvent } | { ok: false; problems: FieldProblem[] };

export function validateEvent(value: unknown): EventValidation {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, problems: [{ field: "(event)", reason: "must be a JSON object" }] };
  }
  const type = (value as { type?: unknown }).type;
  if (!INPUT_EVENT_TYPES.includes(type as never)) {
    return {
      ok: false,
      problems: [
        {
          field: "type",
          reason:
            type === undefined
              ? "is required"
              : `must be one of ${INPUT_EVENT_TYPES.join(", ")} (got ${JSON.stringify(type)})`,
        },
      ],
    };
  }
  const result = inputEvent.safeParse(value);
  if (result.success) return { ok: true, event: result.data };
  return { ok: false, problems: problemsOf(result.error) };
}

export function problemsOf(error: z.ZodError): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) problems.push({ field: [...issue.path, key].join("."), reason: "is not a field of this event type (unknown fields are rejected)" });
      continue;
    }
    const field = issue.path.join(".") || "(event)";
    // One reason per field: an empty id breaks both the length and the alphabet rule.
    if (!problems.some((p) => p.field === field)) problems.push({ field, reason: issue.message });
  }
  return problems;
}

/** Validation outcome of a whole batch: all-or-nothing (D4). */
export interface BatchProblem extends FieldProblem {
  /** 0-based index in a JSON array, or the 1-based line number in NDJSON. */
  index?: number;
  line?: number;
  event_id?: string;
}

export class InvalidBatchError extends Error {
  readonly retriable = false;
  constructor(readonly problems: BatchProblem[]) {
    super(`${problems.length} problem(s) in the batch; nothing was published: ${describeProblems(problems, 5)}`);
    this.name = "InvalidBatchError";
  }
}

export function describeProblems(problems: readonly BatchProblem[], limit = problems.length): string {
  const shown = problems.slice(0, limit).map((p) => {
    const where = p.line !== undefined ? `line ${p.line}` : p.index !== undefined ? `event ${p.index}` : "event";
    const id = p.event_id ? ` (id ${JSON.stringify(p.event_id)})` : "";
    return `${where}${id}: ${p.field} ${p.reason}`;
  });
  const more = problems.length > limit ? `; and ${problems.length - limit} more` : "";
  return shown.join("; ") + more;
}

/**
 * Validates every item; returns the events only when all are valid. D1 within one batch: the
 * same (org_id, id) twice is allowed (a retry inside a batch) and reaches the sink as one row.
 */
export function validateBatch(
  items: readonly unknown[],
  position: (i: number) => { index?: number; line?: number } = (i) => ({ index: i }),
): InputEvent[] {
  const events: InputEvent[] = [];
  const problems: BatchProblem[] = [];
  items.forEach((item, i) => {
    const v = validateEvent(item);
    if (v.ok) {
      events.push(v.event);
      return;
    }
    const rawId = typeof item === "object" && item !== null ? (item as { id?: unknown }).id : undefined;
    for (const p of v.problems) {
      problems.push({ ...position(i), ...(typeof rawId === "string" ? { event_id: rawId } : {}), ...p });
    }
  });
  if (problems.length > 0) throw new InvalidBatchError(problems);
  return events;
}
