import { afterAll, beforeAll, expect, test } from "vitest";
import { engineConfigFromEnv } from "@ledger/config";
import { apiConfigFromEnv } from "@ledger/api";
import { startMockCluster, type MockCluster } from "@ledger/kafka";
import { LedgerStack } from "@ledger/stack";
import { upgraderConfigFromEnv } from "@ledger/upgrader";
import { sinkConfigFromEnv } from "@ledger/sink";
import { freshEngines, TEST_PLATFORM_KEY } from "../support/engines";
import { ev } from "../support/pipeline";

// A broker of this test's own, so it can be stopped under a running ingest.
let cluster: MockCluster;
let stack: LedgerStack;
beforeAll(async () => {
  cluster = await startMockCluster();
  const engines = await freshEngines("down");
  stack = await LedgerStack.start({
    engines: { ...engines, kafka: { ...engines.kafka, brokers: cluster.brokers } },
    upgrader: upgraderConfigFromEnv(),
    sink: sinkConfigFromEnv(),
    ingest: { ...apiConfigFromEnv(), port: 0, backpressureMs: 2_000 },
    platformKey: TEST_PLATFORM_KEY,
  });
});
afterAll(async () => {
  await stack?.stop().catch(() => {});
  await cluster?.stop();
});

test("Kafka unreachable: 503 with Retry-After, never 202", async () => {
  expect(engineConfigFromEnv().kafka.maxLagPerPartition).toBeGreaterThan(0);
  await cluster.stop();
  const res = await fetch(`${stack.url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": TEST_PLATFORM_KEY },
    body: JSON.stringify([ev.created("down", "t", "2024-06-01T00:00:00Z")]),
  });
  expect(res.status).toBe(503);
  expect(res.headers.get("retry-after")).toBe("5");
  expect((await res.json()).error).toMatch(/retry later/);
});
