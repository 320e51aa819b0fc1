import http from "node:http";
import { connectClickHouse, queryUsage } from "@ledger/clickhouse";
import { engineConfigFromEnv } from "@ledger/config";
import { traceKey } from "@ledger/events";
import { createKafka, ledgerGroups, ledgerTopics, ledgerWatches, startMockCluster, waitForDrain } from "@ledger/kafka";
import { startRedisServer } from "@ledger/redis";
import { referenceTuples, tuples } from "../support/pipeline";
import { freshServeEnv, startServe, SERVE_PLATFORM_KEY, type ServeProcess } from "../support/serve-process";
import { generateWorkload } from "../support/workload";
import { threadCpuSeconds } from "./proc-cpu";

type Role = "api" | "upgrader" | "sink";

export interface RoleCpu {
  role: Role;
  events: number;
  cpu_s: number;
  /** Of which the role's own JavaScript; the rest is mostly chDB's work, which a ClickHouse server does in production. */
  js_cpu_s: number;
  cpu_s_per_million_events: number;
  js_cpu_s_per_million_events: number;
}

/**
 * A process's CPU between two readings of its threads, split: the role's own JavaScript (the main
 * thread, and for the API its worker thread, the busiest other Node thread) and everything else
 * (chDB's queries on libuv's pool and ClickHouse's own pools, V8's helper threads).
 */
function split(pid: number, before: Map<string, number>, after: Map<string, number>, withWorker: boolean): { js: number; other: number } {
  const used = [...after].map(([key, v]) => [key, v - (before.get(key) ?? 0)] as const);
  const main = used.find(([key]) => key.endsWith(`/${pid}`))?.[1] ?? 0;
  const worker = withWorker ? Math.max(0, ...used.filter(([key]) => key.startsWith("node/") && !key.endsWith(`/${pid}`)).map(([, v]) => v)) : 0;
  const total = used.reduce((sum, [, v]) => sum + v, 0);
  return { js: main + worker, other: total - main - worker };
}

/**
 * `pnpm bench --roles`: each role's CPU per million events, each in a process of its own
 * (`ledger run <role>`), one after the other over the same log in cycles: the embedded chDB
 * admits one process at a time, and the test broker keeps only about 5 MB per partition, so a
 * cycle is what fits under the API's lag bound with no consumer running. A process's CPU is read
 * from its first request (the API) or its start of consumption (the consumers) until its work is
 * done, so start-up is not counted; each upgrader start fills its cache again, which a running
 * upgrader does once.
 */
export async function roleCpuBench(options: { traces: number; clients: number; say: (line: string) => void }) {
  const { say } = options;
  const events = generateWorkload({ traces: options.traces, maxTriggers: 15, seed: 2024 });
  const cycle = 24_000;
  const cycles = Math.ceil(events.length / cycle);
  say(`roles: ${events.length} events from ${options.traces} traces, ${cycles} cycles of api → upgrader → sink`);
  const [broker, redis] = await Promise.all([startMockCluster(), startRedisServer()]);
  const prefix = `rolebench${Date.now().toString(36)}`;
  const env: Record<string, string> = { ...freshServeEnv(prefix, broker.brokers), LEDGER_REDIS_URL: redis.url, LEDGER_CLOSE_GRACE: "off" };
  const admin = createKafka(broker.brokers, "role-bench").admin();
  await admin.connect();
  const watches = ledgerWatches(ledgerTopics(prefix), ledgerGroups(prefix));
  const totals = new Map<Role, { cpu: number; js: number }>([["api", { cpu: 0, js: 0 }], ["upgrader", { cpu: 0, js: 0 }], ["sink", { cpu: 0, js: 0 }]]);
  const add = (role: Role, pid: number, before: Map<string, number>) => {
    const { js, other } = split(pid, before, threadCpuSeconds(pid), role === "api");
    const t = totals.get(role)!;
    t.cpu += js + other;
    t.js += js;
  };
  const stop = async (p: ServeProcess) => {
    p.child.kill("SIGTERM");
    const code = await p.exited;
    if (code !== 0) throw new Error(`a role process exited with ${code}:\n${p.output().slice(-2000)}`);
  };

  for (let c = 0; c < cycles; c++) {
    const slice = events.slice(c * cycle, (c + 1) * cycle);
    // The API tier: as `pnpm bench` sends, each client its own traces in log order.
    const api = await startServe(env, 60_000, ["run", "api", "--port", "0"]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
    const send = (path: string, method: string, body: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(`${api.url}${path}`, { method, agent, headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(body);
      });
    if (c === 0) {
      for (const org of new Set(events.map((e) => e.org_id!))) {
        const res = await send(`/v1/admin/orgs/${org}`, "PUT", JSON.stringify({ plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" }));
        if (res.status >= 300) throw new Error(`configuring ${org}: ${res.status} ${res.text}`);
      }
    }
    const streams: string[][] = Array.from({ length: options.clients }, () => []);
    const buffers: object[][] = Array.from({ length: options.clients }, () => []);
    for (const e of slice) {
      const key = traceKey(e.org_id!, e.trace_id!);
      let h = 0;
      for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
      const k = Math.abs(h) % options.clients;
      buffers[k]!.push(e);
      if (buffers[k]!.length === 1_000) streams[k]!.push(JSON.stringify(buffers[k]!.splice(0)));
    }
    buffers.forEach((b, k) => b.length && streams[k]!.push(JSON.stringify(b)));
    const pid = api.child.pid!;
    const threads0 = threadCpuSeconds(pid);
    await Promise.all(
      streams.map(async (stream) => {
        for (const body of stream) {
          for (;;) {
            const res = await send("/v1/events", "POST", body);
            if (res.status === 202) break;
            if (res.status !== 503) throw new Error(`the api answered ${res.status}: ${res.text}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }),
    );
    add("api", pid, threads0);
    agent.destroy();
    await stop(api);

    for (const role of ["upgrader", "sink"] as const) {
      const p = await startServe(env, 60_000, ["run", role, "--ops-port", "0"]);
      const threads0 = threadCpuSeconds(p.child.pid!);
      await waitForDrain(admin, watches.filter((w) => w.groupId === ledgerGroups(prefix)[role]), { timeoutMs: 10 * 60_000 });
      add(role, p.child.pid!, threads0);
      await stop(p);
    }
    say(`roles: cycle ${c + 1}/${cycles}: ${[...totals].map(([r, t]) => `${r} ${t.cpu.toFixed(1)} s`).join(", ")}`);
  }

  // The bill, from what the roles wrote: the reference ledger's.
  const ch = await connectClickHouse({ ...engineConfigFromEnv().clickhouse, url: undefined, dataDir: env.LEDGER_DATA_DIR!, database: prefix });
  const correct = JSON.stringify(tuples(await queryUsage(ch, { by: "workspace" }))) === JSON.stringify(referenceTuples(events));
  await ch.close();
  await admin.disconnect();
  await Promise.all([broker.stop(), redis.stop()]);

  const roles: RoleCpu[] = [...totals].map(([role, t]) => ({
    role,
    events: events.length,
    cpu_s: Number(t.cpu.toFixed(1)),
    js_cpu_s: Number(t.js.toFixed(1)),
    cpu_s_per_million_events: Number(((t.cpu / events.length) * 1e6).toFixed(1)),
    js_cpu_s_per_million_events: Number(((t.js / events.length) * 1e6).toFixed(1)),
  }));
  for (const r of roles) say(`roles: ${r.role}: ${r.cpu_s_per_million_events} CPU s per million events (${r.js_cpu_s_per_million_events} in its own JavaScript)`);
  say(`roles: bill equals the reference ledger: ${correct}`);
  return { mode: "roles", traces: options.traces, events: events.length, cycles, roles, bill_matches_reference: correct };
}
