import { readFileSync } from "node:fs";
import { LedgerStack } from "@ledger/stack";
import { configFromEnv, freshRunEngines } from "./engines-from-env";
import { validateBatch } from "@ledger/events";
const lines = readFileSync(process.argv[2]!, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const events = validateBatch(lines);
const c = configFromEnv();
const run = freshRunEngines(c.engines, "perf");
const stack = await LedgerStack.start({ engines: run.engines, upgrader: c.upgrader, sink: c.sink });
const t0 = Date.now();
for (let i = 0; i < events.length; i += 1000) { await stack.governor.waitForRoom(Infinity, 1000); await stack.publisher.publish(events.slice(i, i + 1000)); }
const t1 = Date.now();
await stack.waitUntilDrained();
const t2 = Date.now();
console.log(`events ${events.length} publish ${t1 - t0}ms drained ${t2 - t0}ms => ${Math.round(events.length / ((t2 - t0) / 1000))}/s`);
for (const m of await stack.registry.getMetricsAsJSON()) {
  if (!/step_seconds|batch_rows|insert_seconds/.test(m.name)) continue;
  for (const v of m.values) if (/_sum|_count/.test(v.metricName ?? "")) console.log(v.metricName, JSON.stringify(v.labels), Number(v.value).toFixed(3));
}
await stack.stop();
