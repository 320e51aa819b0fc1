import { z } from "zod";

/** A configuration value that cannot be used; names the variable, so start-up fails clearly. */
export class ConfigError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Parses one service's configuration from the environment with its zod schema. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `${i.path.join(".") || "(environment)"}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
}

/** Optional positive integer from an environment string. */
export const envInt = (fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: "must be a whole number" })
    .int({ error: "must be a whole number" })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

/** Empty strings count as unset: `FOO= cmd` is a common way to clear a variable. */
export const envString = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "3d", "12h", "90m", "500ms" (and "off" when `off` is allowed: null) as milliseconds. */
export const envDuration = (fallback: string, options: { off?: boolean } = {}) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx): number | null => {
      if (options.off && text === "off") return null;
      const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
      if (!m) {
        ctx.addIssue({ code: "custom", message: `must be a duration such as "3d", "12h", "30m", "10s"${options.off ? ' or "off"' : ""}` });
        return z.NEVER;
      }
      return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    });

/** The environment variables a configuration schema reads: its object's keys, through refinements and transforms. */
export function envKeysOf(schema: z.ZodType): string[] {
  let s: z.ZodType = schema;
  while (!(s instanceof z.ZodObject)) {
    if (!(s instanceof z.ZodPipe)) throw new Error("not a configuration schema: an object of environment variables is expected");
    s = s.in as z.ZodType;
  }
  return Object.keys(s.shape);
}
