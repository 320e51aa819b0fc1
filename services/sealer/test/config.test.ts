import { expect, test } from "vitest";
import { ConfigError } from "@ledger/config";
import { sealerConfigFromEnv } from "../src/config";

test("defaults: an hour is sealed after 2 minutes without rows, looked for every 10 s", () => {
  expect(sealerConfigFromEnv({})).toEqual({ quietMs: 120_000, intervalMs: 10_000, batchHours: 20_000 });
  expect(sealerConfigFromEnv({ LEDGER_SEAL_QUIET: "90s", LEDGER_SEALER_INTERVAL_MS: "500" })).toMatchObject({ quietMs: 90_000, intervalMs: 500 });
});

test("a bad value stops start-up naming the variable", () => {
  expect(() => sealerConfigFromEnv({ LEDGER_SEAL_QUIET: "soon" })).toThrow(ConfigError);
  expect(() => sealerConfigFromEnv({ LEDGER_SEAL_QUIET: "soon" })).toThrow(/LEDGER_SEAL_QUIET: must be a duration such as "3d", "12h", "30m", "10s"/);
  expect(() => sealerConfigFromEnv({ LEDGER_SEAL_QUIET: "off" })).toThrow(/LEDGER_SEAL_QUIET/);
  expect(() => sealerConfigFromEnv({ LEDGER_SEALER_INTERVAL_MS: "10" })).toThrow(/LEDGER_SEALER_INTERVAL_MS: must be at least 50/);
});
