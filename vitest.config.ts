import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "services/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // One process per test file: a chDB engine belongs to one process (one data directory each).
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Restart tests wait for the dead member's session to expire; keep it short here.
    env: { LEDGER_KAFKA_SESSION_TIMEOUT_MS: "6000" },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
