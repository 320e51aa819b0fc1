import { MAX_JSON_DEPTH, nestsDeeperThan } from "@ledger/events";
import { RequestError } from "./request-error";

/**
 * A JSON text the API was sent, parsed: a 400 naming it when it is not JSON or nests deeper
 * than MAX_JSON_DEPTH. It is `what` (the body, a line), or `what` and a name quoted (a body's
 * part: `part "post.r1"`), built only for the refusal: every part of a body passes here.
 */
export function parseJsonText(text: string, what: string, named?: string): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new RequestError(400, { error: `${label(what, named)} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels, the most the ledger reads; nothing was published` });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, { error: `${label(what, named)} is not valid JSON: ${(error as Error).message}; nothing was published` });
  }
}

const label = (what: string, named: string | undefined) => (named === undefined ? what : `${what} ${JSON.stringify(named)}`);

/** A request's JSON object body: none is an empty object; anything else than an object is a 400. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || body === "") return {};
  const value = typeof body === "string" ? parseJsonText(body, "body") : body;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new RequestError(400, { error: "body must be a JSON object" });
  return value as Record<string, unknown>;
}

/** A zod refusal of a request's fields as one sentence, each field named. */
export function fieldSentences(issues: readonly { path: readonly PropertyKey[]; message: string }[], whole = "body"): string {
  return issues.map((i) => `${i.path.map(String).join(".") || whole} ${i.message}`).join("; ");
}
