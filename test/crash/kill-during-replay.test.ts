import { afterAll, beforeAll, expect, test } from "vitest";
import { createKafka, ledgerGroups, ledgerTopics, ledgerWatches, startMockCluster, waitForDrain, type MockCluster, type KafkaAdmin } from "@ledger/kafka";
import { uniqueName } from "../support/engines";
import { referenceTuples, type Tuple } from "../support/pipeline";
import { freshServeEnv, startServe, type ServeProcess, SERVE_PLATFORM_KEY } from "../support/serve-process";
import { generateWorkload } from "../support/workload";

/**
 * D2/D3: SIGKILL `ledger serve` in the middle of a 50,000+ event replay through its HTTP API,
 * restart it against the same broker (a process of its own that outlives the service) and the
 * same chDB directory, resend what was not acknowledged, and compare the final bill with the
 * reference ledger: nothing lost, nothing counted twice.
 */
let broker: MockCluster;
let admin: KafkaAdmin;
const serves: ServeProcess[] = [];

beforeAll(async () => {
  broker = await startMockCluster();
  admin = createKafka(broker.brokers, "crash-test").admin();
  await admin.connect();
});
afterAll(async () => {
  for (const s of serves) s.child.kill("SIGKILL");
  await admin?.disconnect();
  await broker?.stop();
});

test("SIGKILL mid-replay and restart: the final report equals the expected one", async () => {
  const events = generateWorkload({ traces: 40_000, seed: 7 });
  expect(events.length).toBeGreaterThanOrEqual(50_000);
  const prefix = uniqueName("crash");
  const env = freshServeEnv(prefix, broker.brokers);

  let serve = await startServe(env);
  serves.push(serve);
  const batches: string[] = [];
  for (let i = 0; i < events.length; i += 1_000) batches.push(JSON.stringify(events.slice(i, i + 1_000)));

  // An at-least-once client: a batch counts as sent only once answered 202; otherwise resend.
  const killAt = Math.floor(batches.length / 2);
  let killed = false;
  for (let b = 0; b < batches.length; ) {
    if (b === killAt && !killed) {
      // Kill while the next requests are in flight and the consumers are mid-batch.
      const inFlight = [b, b + 1].map((k) => fetch(`${serve.url}/v1/events`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body: batches[k] }).catch(() => null));
      await new Promise((r) => setTimeout(r, 30));
      serve.child.kill("SIGKILL");
      await serve.exited;
      killed = true;
      await Promise.all(inFlight);
      serve = await startServe(env);
      serves.push(serve);
      continue; // resend batch b (and b + 1 after it): they may or may not have landed before
    }
    const res = await fetch(`${serve.url}/v1/events`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body: batches[b] });
    if (res.status === 202) b++;
    else if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${await res.text()}`);
  }
  expect(killed).toBe(true);

  const topics = ledgerTopics(prefix);
  await waitForDrain(admin, ledgerWatches(topics, ledgerGroups(prefix)), { timeoutMs: 300_000 });
  const usage = (await (await fetch(`${serve.url}/v1/usage?by=workspace`, { headers: { "x-api-key": SERVE_PLATFORM_KEY } })).json()) as {
    rows: { org_id: string; workspace_id: string; period: string; base_traces: number; extended_upgrades: number }[];
  };
  const billed: Tuple[] = usage.rows.map((r) => [r.org_id, r.workspace_id, r.period, r.base_traces, r.extended_upgrades]);
  expect(billed).toEqual(referenceTuples(events));

  serve.child.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
}, 600_000);
