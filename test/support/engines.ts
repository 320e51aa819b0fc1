import type { SealerConfig } from "@ledger/sealer";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { engineConfigFromEnv, type EngineConfig } from "@ledger/config";
import { LedgerStack, type BackgroundRole } from "@ledger/stack";
import type { InvoicerConfig } from "@ledger/invoicer";
import { apiConfigFromEnv, type ApiConfig } from "@ledger/api";
import { upgraderConfigFromEnv } from "@ledger/upgrader";
import { sinkConfigFromEnv, type SinkConfig } from "@ledger/sink";
import { startMockCluster, type MockCluster } from "@ledger/kafka";
import { externalEngines } from "./containers";
import type { Clock } from "@ledger/limits";

/**
 * Engines for one test file (one vitest fork): testcontainers' Kafka and ClickHouse when a
 * container runtime answers, LEDGER_* variables when set, else the embedded defaults (a kcat
 * mock cluster and a chDB directory of this process). Each test then takes fresh topics, groups
 * and a fresh database from `freshEngines()`.
 */
let shared: Promise<{ brokers: string[]; clickhouseUrl?: string; clickhouseUser?: string; clickhousePassword?: string; dataDir: string; stop: () => Promise<void> }> | undefined;

async function startShared() {
  const env = engineConfigFromEnv();
  const dataDir = mkdtempSync(join(tmpdir(), "ledger-test-"));
  if (env.kafka.brokers) {
    return { brokers: env.kafka.brokers, clickhouseUrl: env.clickhouse.url, dataDir, stop: async () => {} };
  }
  const containers = await externalEngines();
  if (containers) return { ...containers, dataDir };
  const mock: MockCluster = await startMockCluster();
  return { brokers: mock.brokers, dataDir, stop: () => mock.stop() };
}

export function sharedEngines() {
  shared ??= startShared();
  return shared;
}

export const uniqueName = (label: string) => `${label}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;

export async function freshEngines(label = "t"): Promise<EngineConfig> {
  const s = await sharedEngines();
  const base = engineConfigFromEnv();
  return {
    kafka: { ...base.kafka, brokers: s.brokers, topicPrefix: uniqueName(label) },
    clickhouse: {
      ...base.clickhouse,
      url: s.clickhouseUrl ?? base.clickhouse.url,
      user: s.clickhouseUser ?? base.clickhouse.user,
      password: s.clickhousePassword ?? base.clickhouse.password,
      dataDir: s.dataDir, database: uniqueName(label) },
    redis: base.redis,
  };
}

export const TEST_PLATFORM_KEY = `lsv2_sk_platform_test_${randomBytes(24).toString("hex")}`;

export async function freshStack(options: { label?: string; ingest?: boolean | Partial<ApiConfig>; clock?: Clock; engines?: Partial<EngineConfig>; sealer?: SealerConfig; sink?: Partial<SinkConfig>; invoicer?: InvoicerConfig; roles?: BackgroundRole[] } = {}): Promise<LedgerStack> {
  const ingest: ApiConfig | undefined = options.ingest
    ? { ...apiConfigFromEnv(), port: 0, ...(typeof options.ingest === "object" ? options.ingest : {}) }
    : undefined;
  return LedgerStack.start({
    engines: { ...(await freshEngines(options.label)), ...options.engines },
    upgrader: upgraderConfigFromEnv(),
    sink: { ...sinkConfigFromEnv(), ...options.sink },
    ingest,
    // The API on its worker thread, as `ledger serve` runs it, unless the test moves the ledger's
    // clock (a clock object cannot cross to the thread).
    ingestThread: ingest !== undefined && options.clock === undefined,
    platformKey: TEST_PLATFORM_KEY,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.sealer ? { sealer: options.sealer } : {}),
    ...(options.invoicer ? { invoicer: options.invoicer } : {}),
    ...(options.roles ? { roles: options.roles } : {}),
  });
}
