import { parseArgs } from "node:util";
import { ledgerApi } from "../support/ledger-api";
import { startReplicas } from "../support/replicas";

/**
 * `pnpm loadtest`: N clients for T seconds against one and against two ingest processes (each
 * its own process, one shared Redis and stack), all on loopback, bounded in requests and time.
 * Every client sends, with the same workspace key, requests of 25 new traces alternating with
 * empty ones, so the key's rate limit, the workspace's trace limit and the fail-open path are
 * all exercised. Prints
 * requests/s, p50/p99 latency, 429s per limit, and the measured overshoot against the bound of
 * docs/limits.md ("The overshoot bound"). Last line: one JSON object per scenario.
 */
const { values: args } = parseArgs({
  options: {
    clients: { type: "string", default: "16" },
    seconds: { type: "string", default: "10" },
    "max-requests": { type: "string", default: "20000" },
    "traces-limit": { type: "string", default: "10000" },
  },
});
const clients = Number(args.clients);
const seconds = Math.min(Number(args.seconds), 55); // inside one rate window, so its overshoot is plain to read
const maxRequests = Number(args["max-requests"]);
const tracesLimit = Number(args["traces-limit"]);
const PER_REQUEST = 25;
const say = (line: string) => process.stderr.write(`loadtest: ${line}\n`);

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function scenario(replicaCount: number, redisAway: boolean) {
  const name = `${replicaCount} replica${replicaCount > 1 ? "s" : ""}${redisAway ? ", Redis away" : ""}`;
  say(`${name}: starting`);
  const ledger = await startReplicas(replicaCount, `load${replicaCount}`);
  try {
    const apis = ledger.urls.map((url) => ledgerApi(url, ledger.platformKey));
    await apis[0]!.org("load", { plan: "plus", payment_method: true });
    await apis[0]!.workspace("load", "prod", { all_traces_limit: tracesLimit, extended_traces_limit: null });
    const { key } = await apis[0]!.key("load", "prod");
    for (const api of apis) {
      for (let i = 0; (await api.call("GET", "/v1/usage?org=load", key)).status !== 200; i++) {
        if (i > 100) throw new Error("a replica never learned the key");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (redisAway) await ledger.stopRedis();
    const latencies: number[] = [];
    const refusals: Record<string, number> = {};
    const other: Record<number, number> = {};
    const admittedBy = apis.map(() => 0);
    let sent = 0;
    let admittedTraces = 0;
    let seq = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const api = apis[c % apis.length]!;
        while (performance.now() < end && sent < maxRequests) {
          sent++;
          const r = seq++;
          const at = new Date().toISOString();
          // Every other request is empty: it counts toward the key's rate only (§6.1).
          const events = Array.from({ length: r % 2 === 0 ? PER_REQUEST : 0 }, (_, i) => ({
            id: `c-${r}-${i}`, type: "trace-created", occurred_at: at, org_id: "load", workspace_id: "prod", trace_id: `t-${r}-${i}`, project_id: "p", retention: "base",
          }));
          const t0 = performance.now();
          const res = await api.post(key, events);
          latencies.push(performance.now() - t0);
          if (res.status === 202) {
            admittedBy[c % apis.length]!++;
            admittedTraces += events.length;
          }
          else if (res.status === 429) refusals[res.body.limit as string] = (refusals[res.body.limit as string] ?? 0) + 1;
          else other[res.status] = (other[res.status] ?? 0) + 1;
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    // Wait for the pipeline, then read what the ledger billed.
    let billed = 0;
    for (let i = 0; i < 600; i++) {
      const rows = (await apis[0]!.call("GET", "/v1/usage?org=load", ledger.platformKey)).body.rows as { base_traces: number }[];
      billed = rows.reduce((s, r) => s + r.base_traces, 0);
      if (billed >= admittedTraces) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const metrics = await (await fetch(`${ledger.primary.url}/metrics`)).text();
    const visible = [...metrics.matchAll(/^ledger_event_visible_seconds_bucket\{le="([^"]+)",table="trace_events_v1"\} (\d+)$/gm)];
    const total = Number(visible.at(-1)?.[2] ?? 0);
    const p99Bucket = visible.find((m) => Number(m[2]) >= 0.99 * total)?.[1] ?? "NaN";
    const d = Number(p99Bucket === "+Inf" ? 60 : p99Bucket); // propagation delay (p99 bucket bound), s
    const refresh = 1; // ClickHouse counts re-read at most once a second while Redis is away
    const q = Math.max(...admittedBy) / 2 / elapsed; // admitted requests with traces per second, busiest replica
    const bound = redisAway ? replicaCount * Math.ceil(q * (d + refresh)) * PER_REQUEST : 0;
    const sorted = latencies.sort((a, b) => a - b);
    const rateAdmitted = admittedBy.reduce((s, n) => s + n, 0) + apis.length; // + each replica's key check above
    const result = {
      scenario: name,
      replicas: replicaCount,
      redis: redisAway ? "away" : "up",
      clients,
      seconds: Number(elapsed.toFixed(1)),
      requests: latencies.length,
      requests_per_s: Math.round(latencies.length / elapsed),
      p50_ms: Number(quantile(sorted, 0.5).toFixed(1)),
      p99_ms: Number(quantile(sorted, 0.99).toFixed(1)),
      refused_429: refusals,
      other_statuses: other,
      rate_limit: 2000,
      rate_admitted: rateAdmitted,
      rate_overshoot: redisAway ? null : Math.max(0, rateAdmitted - 2000),
      traces_limit: tracesLimit,
      traces_billed: billed,
      usage_overshoot: Math.max(0, billed - tracesLimit),
      usage_bound: bound,
      within_bound: Math.max(0, billed - tracesLimit) <= bound,
      bound_inputs: { R: replicaCount, q_per_s: Number(q.toFixed(1)), d_s: d, refresh_s: refresh, m: PER_REQUEST },
    };
    say(
      `${name}: ${result.requests} requests in ${result.seconds} s = ${result.requests_per_s}/s; p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms; ` +
        `429s ${JSON.stringify(refusals)}; rate admitted ${rateAdmitted}/2000; traces billed ${billed}/${tracesLimit}, overshoot ${result.usage_overshoot} (bound ${bound})`,
    );
    return result;
  } finally {
    await ledger.stop();
  }
}

const results = [];
for (const [replicas, away] of [[1, false], [2, false], [2, true]] as const) results.push(await scenario(replicas, away));
for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
process.exit(results.every((r) => r.within_bound && (r.rate_overshoot ?? 0) === 0 && Object.keys(r.other_statuses).length === 0) ? 0 : 1);
