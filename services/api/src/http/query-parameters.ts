import type { z } from "zod";
import { RequestError } from "./request-error";

/**
 * A query that gives a parameter more than once (`?org=a&org=b`) or in an array's form
 * (`?org[]=a`, `?org[x]=a`): a sentence saying so, else null. Every route refuses it, so no check
 * reads one value while a reader takes another.
 */
export function repeatedParameterProblem(query: Record<string, unknown>): string | null {
  for (const [name, value] of Object.entries(query)) {
    if (Array.isArray(value)) return `query parameter ${name} is given ${value.length} times; give it once`;
    if (name.includes("[") || name.includes("]")) return `query parameter ${JSON.stringify(name)} is not a parameter: give each one once, as name=value`;
  }
  return null;
}

/**
 * A route's query parameters checked against its schema before anything is read: a 400 with
 * one sentence per parameter (an unknown one named as such), never a validator's dump.
 */
export function queryParameters<S extends z.ZodType>(schema: S, query: unknown, route: string): z.output<S> {
  const r = schema.safeParse(query);
  if (r.success) return r.data;
  const sentences = r.error.issues.map((i) => (i.code === "unrecognized_keys" ? `${i.keys.join(", ")} is not a parameter of ${route}` : `${i.path.join(".")} ${i.message}`));
  throw new RequestError(400, { error: `bad query parameters: ${sentences.join("; ")}` });
}
