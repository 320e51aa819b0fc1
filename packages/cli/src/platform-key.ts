import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generatePlatformKey } from "@ledger/accounts";
import { ConfigError, type EngineConfig } from "@ledger/config";

/** Where `serve` keeps a generated platform key: in the data directory, readable by its owner only. */
export const platformKeyFile = (engines: EngineConfig) => join(engines.clickhouse.dataDir, "platform-key");

/**
 * The platform key `serve` runs with: LEDGER_PLATFORM_KEY, else (embedded default only) the one
 * kept in the data directory, else a new one, written there (mode 0600) and announced once.
 */
export function resolveServeKey(configured: string | undefined, engines: EngineConfig, announce: (key: string, file: string) => void): string {
  if (configured) return configured;
  if (engines.clickhouse.url) {
    throw new ConfigError("LEDGER_PLATFORM_KEY: must be set when ClickHouse is a server (only the embedded default generates one)");
  }
  const file = platformKeyFile(engines);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(engines.clickhouse.dataDir, { recursive: true });
  const key = generatePlatformKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  announce(key, file);
  return key;
}

/** The key the admin commands present: LEDGER_PLATFORM_KEY, else the one `serve` keeps. */
export function clientPlatformKey(configured: string | undefined, engines: EngineConfig): string {
  if (configured) return configured;
  const file = platformKeyFile(engines);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  throw new ConfigError(`LEDGER_PLATFORM_KEY: not set, and no key in ${file} (start \`ledger serve\` once, or set the variable)`);
}
