import { z } from "zod";
import { ConfigError, envInt, parseEnv } from "@ledger/config";
import { BACKGROUND_ROLES, LedgerStack, type BackgroundRole } from "@ledger/stack";
import { configFromEnv } from "./engines-from-env";
import { CommandLineError } from "./command-line-error";
import { stopOnSignal } from "./lifecycle";
import { startOpsListener } from "./ops-listener";

export const ROLES = ["api", ...BACKGROUND_ROLES] as const;
export type Role = (typeof ROLES)[number];

export const runConfigSchema = z
  .object({
    /** The ops listener (`/healthz`, `/readyz`, `/metrics`) of a process without the API; on LEDGER_HOST. */
    LEDGER_OPS_PORT: envInt(9464, 0, 65_535),
  })
  .transform((e) => ({ opsPort: e.LEDGER_OPS_PORT }));

/** Roles named on the command line, each once, in the order given; an unknown one is refused by name. */
export function parseRoles(names: readonly string[]): Role[] {
  const unknown = names.filter((n) => !(ROLES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new CommandLineError(`unknown role${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => JSON.stringify(u)).join(", ")}; the roles are ${ROLES.join(", ")}`);
  return [...new Set(names)] as Role[];
}

/**
 * `ledger run <role>…`: the named roles in this process, against engines that run elsewhere
 * (Kafka and Redis always; ClickHouse a server, or the embedded chDB when every role that uses
 * ClickHouse runs in this one process). Any number of processes may run any role: consumers
 * share their groups, the invoicer and the sealer take turns by a Redis lease.
 */
export async function run(names: readonly string[], options: { port?: number; host?: string; opsPort?: number }): Promise<void> {
  const roles = parseRoles(names);
  const config = configFromEnv();
  const { engines } = config;
  if (!engines.kafka.brokers) throw new ConfigError("LEDGER_KAFKA_BROKERS: `ledger run` joins running engines; name the Kafka every instance shares (`ledger serve` starts embedded engines itself)");
  if (!engines.redis.url) throw new ConfigError("LEDGER_REDIS_URL: `ledger run` needs the Redis every instance of the deployment shares (leader leases, limit counters)");
  const api = roles.includes("api");
  if (api && !config.ingest.platformKey) throw new ConfigError("LEDGER_PLATFORM_KEY: the api role needs the API tier's credential (at least 32 characters)");
  const { opsPort } = parseEnv(runConfigSchema);
  const host = options.host ?? config.ingest.host;
  const log = (line: string) => process.stderr.write(`ledger: ${line}\n`);
  if (!engines.clickhouse.url) log(`clickhouse: embedded chDB in ${engines.clickhouse.dataDir}: only this process can open it, so every role that uses ClickHouse must run here (LEDGER_CLICKHOUSE_URL names a server)`);
  const ingest = api ? { ...config.ingest, host, ...(options.port !== undefined ? { port: options.port } : {}) } : undefined;
  const stack = await LedgerStack.start({
    engines,
    roles: roles.filter((r): r is BackgroundRole => r !== "api"),
    upgrader: config.upgrader,
    sink: config.sink,
    invoicer: config.invoicer,
    sealer: config.sealer,
    ...(ingest ? { ingest, ingestThread: true, platformKey: config.ingest.platformKey } : {}),
    log,
  });
  let where: string;
  let closeOps = async () => {};
  if (api) {
    where = `api listening on ${stack.url}`;
  } else {
    const ops = await startOpsListener(stack, host, options.opsPort ?? opsPort);
    where = `ops (/readyz, /metrics) listening on ${ops.url}`;
    closeOps = () => ops.close();
  }
  process.stdout.write(`ledger: running ${roles.join(", ")}; ${where}\n`);
  stopOnSignal(stack, log, () => void closeOps());
}
