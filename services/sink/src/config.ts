import { z } from "zod";
import { envInt, parseEnv } from "@ledger/config";

export const sinkConfigSchema = z
  .object({ LEDGER_SINK_CONCURRENCY: envInt(4, 1, 64) })
  .transform((e) => ({ concurrency: e.LEDGER_SINK_CONCURRENCY }));

export type SinkConfig = z.output<typeof sinkConfigSchema>;
export const sinkConfigFromEnv = (env: NodeJS.ProcessEnv = process.env) => parseEnv(sinkConfigSchema, env);
