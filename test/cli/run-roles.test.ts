import { afterAll, beforeAll, expect, test } from "vitest";
import { EventPublisher } from "@ledger/api";
import { connectClickHouse, queryUsage } from "@ledger/clickhouse";
import { engineConfigFromEnv } from "@ledger/config";
import { validateBatch } from "@ledger/events";
import { createKafka, createProducer, ledgerGroups, ledgerTopics, ledgerWatches, startMockCluster, waitForDrain, type KafkaAdmin, type KafkaProducer, type MockCluster } from "@ledger/kafka";
import { connectRedis, startRedisServer, type RedisServer } from "@ledger/redis";
import { leaseName } from "@ledger/stack";
import { uniqueName } from "../support/engines";
import { referenceTuples, tuples } from "../support/pipeline";
import { runLedger } from "../support/cli";
import { freshServeEnv, startServe, SERVE_PLATFORM_KEY, type ServeProcess } from "../support/serve-process";
import { generateWorkload } from "../support/workload";

// `ledger run <role>…` as an operator runs it: its own process, against engines that run
// elsewhere (here the test's Kafka-protocol cluster and redis-server; ClickHouse is the embedded
// chDB, which only one process may open, so every role that uses it runs in that one process).
let broker: MockCluster;
let redis: RedisServer;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const processes: ServeProcess[] = [];
beforeAll(async () => {
  [broker, redis] = await Promise.all([startMockCluster(), startRedisServer()]);
  const kafka = createKafka(broker.brokers, "run-roles-test");
  admin = kafka.admin();
  await admin.connect();
  producer = createProducer(kafka);
  await producer.connect();
});
afterAll(async () => {
  for (const p of processes) p.child.kill("SIGKILL");
  await producer?.disconnect();
  await admin?.disconnect();
  await redis?.stop();
  await broker?.stop();
});

const runEnv = (name: string): Record<string, string> => ({ ...freshServeEnv(name, broker.brokers), LEDGER_REDIS_URL: redis.url });

test("roles are refused by name, and so are missing engines", async () => {
  const unknown = await runLedger(["run", "upgrader", "billing"], { env: runEnv(uniqueName("roles")) });
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown role "billing"; the roles are api, upgrader, sink, invoicer, sealer');

  const kafkaless = await runLedger(["run", "sink"], { env: { ...runEnv(uniqueName("roles")), LEDGER_KAFKA_BROKERS: "" } });
  expect(kafkaless.code).toBe(2);
  expect(kafkaless.stderr).toContain("LEDGER_KAFKA_BROKERS:");

  const redisless = await runLedger(["run", "invoicer"], { env: { ...runEnv(uniqueName("roles")), LEDGER_REDIS_URL: "" } });
  expect(redisless.code).toBe(2);
  expect(redisless.stderr).toContain("LEDGER_REDIS_URL:");
}, 60_000);

test("the background roles in a process of their own (two instances of each consumer): ready on the ops listener, leading, billing a log published by the API tier, draining on SIGTERM", async () => {
  const name = uniqueName("runroles");
  // Two upgraders and two sinks in the process, each its own member of its group.
  const env: Record<string, string> = { ...runEnv(name), LEDGER_UPGRADER_INSTANCES: "2", LEDGER_SINK_INSTANCES: "2" };
  const roles = await startServe(env, 60_000, ["run", "upgrader", "sink", "invoicer", "sealer", "--ops-port", "0"]);
  processes.push(roles);
  expect(roles.output()).toContain("running upgrader, sink, invoicer, sealer; ops (/readyz, /metrics) listening on");

  const ready = await fetch(`${roles.url}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: "ready", roles: ["upgrader", "sink", "invoicer", "sealer"] });
  const metrics = await (await fetch(`${roles.url}/metrics`)).text();
  expect(metrics).toMatch(/^ledger_invoicer_leader 1$/m);
  expect(metrics).toMatch(/^ledger_sealer_leader 1$/m);
  expect((await fetch(`${roles.url}/nowhere`)).status).toBe(404);

  // A second process cannot share the embedded ClickHouse: it says so and stops.
  const second = await runLedger(["run", "sealer", "--ops-port", "0"], { env });
  expect(second.code).toBe(2);
  expect(second.stderr).toContain(`ledger: cannot open the embedded ClickHouse in ${env.LEDGER_DATA_DIR}`);
  expect(second.stderr).toContain("run every role that uses ClickHouse in the process that holds it, or name a ClickHouse server with LEDGER_CLICKHOUSE_URL");

  // The API tier publishes (here straight to the input topic, as the api role does).
  const log = generateWorkload({ traces: 1_500, orgs: 3, seed: 5 });
  const topics = ledgerTopics(name);
  await new EventPublisher(producer, topics.events).publish(validateBatch(log));
  await waitForDrain(admin, ledgerWatches(topics, ledgerGroups(name)), { timeoutMs: 120_000 });

  roles.child.kill("SIGTERM");
  expect(await roles.exited).toBe(0);
  expect(roles.output()).toContain("ledger: stopped");
  // The leases were handed over on the way out.
  const client = connectRedis(redis.url);
  await new Promise((r) => client.once("ready", r));
  expect(await client.get(`ledger:lease:${leaseName(name, "invoicer")}`)).toBeNull();
  expect(await client.get(`ledger:lease:${leaseName(name, "sealer")}`)).toBeNull();
  client.disconnect();

  // What the roles wrote is the log's bill.
  const ch = await connectClickHouse({ ...engineConfigFromEnv().clickhouse, url: undefined, dataDir: env.LEDGER_DATA_DIR!, database: name });
  try {
    expect(tuples(await queryUsage(ch, { by: "workspace" }))).toEqual(referenceTuples(log));
  } finally {
    await ch.close();
  }
}, 240_000);

test("the api role with the consumers: 202, usage read back, ready", async () => {
  const name = uniqueName("runapi");
  const api = await startServe(runEnv(name), 60_000, ["run", "api", "upgrader", "sink", "--port", "0"]);
  processes.push(api);
  expect(api.output()).toContain("running api, upgrader, sink; api listening on");
  const headers = { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY };
  const at = new Date().toISOString();
  const events = [0, 1, 2].map((i) => ({ id: `c-${i}`, type: "trace-created", occurred_at: at, org_id: "acme", workspace_id: "prod", trace_id: `t-${i}`, project_id: "p", retention: "base" }));
  const sent = await fetch(`${api.url}/v1/events`, { method: "POST", headers, body: JSON.stringify(events) });
  expect(sent.status, await sent.clone().text()).toBe(202);
  await waitForDrain(admin, ledgerWatches(ledgerTopics(name), ledgerGroups(name)), { timeoutMs: 60_000 });
  const usage = (await (await fetch(`${api.url}/v1/usage?org=acme`, { headers })).json()) as { rows: { base_traces: number }[] };
  expect(usage.rows.reduce((s, r) => s + r.base_traces, 0)).toBe(3);
  expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
  api.child.kill("SIGTERM");
  expect(await api.exited).toBe(0);
}, 180_000);
