import { MAX_JSON_DEPTH, nestsDeeperThan } from "@ledger/events";
import { RequestError } from "./request-error";

/**
 * A JSON text the API was sent, parsed: a 400 naming `what` (the body, a part, a line) when it
 * is not JSON or nests deeper than MAX_JSON_DEPTH.
 */
export function parseJsonText(text: string, what: string): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new RequestError(400, { error: `${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels, the most the ledger reads; nothing was published` });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, { error: `${what} is not valid JSON: ${(error as Error).message}; nothing was published` });
  }
}
