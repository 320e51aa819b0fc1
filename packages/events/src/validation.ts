import { z } from "zod";
import { INPUT_EVENT_TYPES, inputEvent, type InputEvent } from "./schemas";
import { ACCOUNT_EVENT_TYPES, accountEvent, type AccountEvent } from "./account-schemas";
import { BILLING_EVENT_TYPES, billingEvent, periodClosed, type BillingEvent, type PeriodClosed } from "./billing-schemas";

/** One reason an event was refused: which field and why (D4). */
export interface FieldProblem {
  field: string;
  reason: string;
}

export type Validation<E> = { ok: true; event: E } | { ok: false; problems: FieldProblem[] };
export type EventValidation = Validation<InputEvent>;

/** Which events a boundary accepts: `POST /v1/events` takes trace events, a replay log more. */
export interface EventFamily<E> {
  types: readonly string[];
  schema: z.ZodType<E>;
}

export const TRACE_EVENTS: EventFamily<InputEvent> = { types: INPUT_EVENT_TYPES, schema: inputEvent };
export const ACCOUNT_EVENTS: EventFamily<AccountEvent> = { types: ACCOUNT_EVENT_TYPES, schema: accountEvent as z.ZodType<AccountEvent> };
/** What `POST /v1/events` takes: trace events and billing events (§2, §10.2). */
export type LedgerEvent = InputEvent | BillingEvent;
export const INGEST_EVENTS: EventFamily<LedgerEvent> = {
  types: [...INPUT_EVENT_TYPES, ...BILLING_EVENT_TYPES],
  // One discriminated union, so a problem is reported on its field, not as "invalid input".
  schema: z.discriminatedUnion("type", [...inputEvent.options, ...billingEvent.options]).meta({ id: "LedgerEvent", description: "A trace event or a billing event (§2, §10.2)" }) as unknown as z.ZodType<LedgerEvent>,
};
/** A line of a replay log: all three families and `period-closed` markers (§2). */
export type LogEvent = InputEvent | BillingEvent | AccountEvent | PeriodClosed;
export const LOG_EVENTS: EventFamily<LogEvent> = {
  types: [...INPUT_EVENT_TYPES, ...BILLING_EVENT_TYPES, ...ACCOUNT_EVENT_TYPES, "period-closed"],
  schema: z.discriminatedUnion("type", [...inputEvent.options, ...billingEvent.options, ...accountEvent.options, periodClosed]) as unknown as z.ZodType<LogEvent>,
};

export function validateEvent(value: unknown): EventValidation {
  return validateOf(TRACE_EVENTS, value);
}

export function validateOf<E>(family: EventFamily<E>, value: unknown): Validation<E> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, problems: [{ field: "(event)", reason: "must be a JSON object" }] };
  }
  const type = (value as { type?: unknown }).type;
  if (!family.types.includes(type as never)) {
    return {
      ok: false,
      problems: [
        {
          field: "type",
          reason:
            type === undefined
              ? "is required"
              : `must be one of ${family.types.join(", ")} (got ${JSON.stringify(type)})`,
        },
      ],
    };
  }
  const result = family.schema.safeParse(value);
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
  return validateBatchOf(TRACE_EVENTS, items, position);
}

export function validateBatchOf<E>(
  family: EventFamily<E>,
  items: readonly unknown[],
  position: (i: number) => { index?: number; line?: number } = (i) => ({ index: i }),
): E[] {
  const events: E[] = [];
  const problems: BatchProblem[] = [];
  items.forEach((item, i) => {
    const v = validateOf(family, item);
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
