import type { z } from "zod";

/** Which key a route takes (§7). */
export type OperationAuth = "none" | "workspace-key" | "org-key-or-platform" | "platform";

/** An answer of a route: its status's meaning and, where the API promises one, its shape. */
export interface OperationAnswer {
  description: string;
  schema?: z.ZodType;
  /** application/json unless said. */
  contentType?: string;
  example?: unknown;
}

/**
 * What a route says of itself, given with its registration (`config.operation`): the schemas
 * are the ones its handler validates with, so `/openapi.json` cannot drift from the code.
 */
export interface Operation {
  summary: string;
  description?: string;
  /** The concern the route belongs to, as its folder under routes/ names it. */
  tag: "events" | "langsmith" | "usage" | "invoices" | "admin" | "analyst" | "ops" | "usage page";
  auth: OperationAuth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: { schema: z.ZodType; contentTypes: readonly string[]; example?: unknown; required?: boolean };
  answers: Record<number, OperationAnswer>;
  /** The refusals particular to this route; those of every keyed route or body are added to them. */
  refusals?: readonly number[];
}

declare module "fastify" {
  interface FastifyContextConfig {
    operation?: Operation;
  }
}

/** The route options that carry an operation, for `app.get(path, described(op), handler)`. */
export const described = (operation: Operation) => ({ config: { operation } });
