import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { engineConfigFromEnv, type EngineConfig } from "@ledger/config";
import { apiConfigFromEnv } from "@ledger/api";
import { upgraderConfigFromEnv } from "@ledger/upgrader";
import { sinkConfigFromEnv } from "@ledger/sink";
import { invoicerConfigFromEnv } from "@ledger/invoicer";
import { sealerConfigFromEnv } from "@ledger/sealer";

/** Each service's configuration from the environment, parsed once at start-up. */
export function configFromEnv() {
  return {
    engines: engineConfigFromEnv(),
    ingest: apiConfigFromEnv(),
    upgrader: upgraderConfigFromEnv(),
    sink: sinkConfigFromEnv(),
    invoicer: invoicerConfigFromEnv(),
    sealer: sealerConfigFromEnv(),
  };
}

/**
 * Engines for a one-off run (replay): fresh topics and a fresh database, so the report covers
 * exactly the replayed log; on the embedded engines also a temporary chDB directory.
 */
export function freshRunEngines(engines: EngineConfig, label: string): { engines: EngineConfig; tempDir?: string } {
  const suffix = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const tempDir = engines.clickhouse.url ? undefined : mkdtempSync(join(tmpdir(), `ledger-${label}-`));
  return {
    tempDir,
    engines: {
      kafka: { ...engines.kafka, topicPrefix: `${engines.kafka.topicPrefix}.${label}.${suffix}` },
      clickhouse: {
        ...engines.clickhouse,
        database: `${engines.clickhouse.database}_${label}_${suffix}`,
        dataDir: tempDir ?? engines.clickhouse.dataDir,
      },
      redis: engines.redis,
    },
  };
}
