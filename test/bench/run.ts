import http from "node:http";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { validateBatch, traceKey } from "@ledger/events";
import { amountDueMicros, formatUsd, microsOfUsd, periodKeyOf, periodsBetween } from "@ledger/billing";
import { createKafka, ledgerGroups, ledgerTopics, ledgerWatches, startMockCluster, waitForDrain } from "@ledger/kafka";
import { referenceTuples } from "../support/pipeline";
import { freshServeEnv, startServe, SERVE_PLATFORM_KEY } from "../support/serve-process";
import { generateWorkload } from "../support/workload";
import { measureBaseline } from "./baseline";
import { langsmithWorkload } from "./langsmith-workload";
import { billingEventKey, billingWorkload, referenceAmount, seatCharges } from "./billing-workload";
import { usageBench } from "./usage-scale";
import { childrenCpuSeconds, cpuSeconds, peakRssMb, threadCpuSeconds, threadGroups } from "./proc-cpu";
import { roleCpuBench } from "./role-cpu";

/**
 * `pnpm bench`: a fixed workload (≈1,000,000 events, ≈300,000 traces, ≈30 % upgraded, 10 orgs ×
 * 3 workspaces, across a month boundary) through the ingest HTTP API of `ledger serve` on the
 * embedded engines, then checked against the reference ledger; and in the same run a raw
 * kafkajs + ClickHouse baseline of the same messages. Seat and deployment-run events travel with
 * the traces, June is closed half way through (`POST /v1/admin/periods/2024-06/close`), and
 * every organization's June and July invoices are checked against a naive reading of §10.
 * Last line: one JSON object.
 * `--langsmith`: the same workload as runs and feedback through `POST /runs/multipart` with
 * workspace keys (see langsmith-workload.ts), checked against the events the mapping makes.
 * `--usage [--big-traces N]`: the usage page's reads over 50 million traces (usage-scale.ts).
 * `--roles [--traces N]`: each role's CPU per million events, each role in a process of its own
 * (role-cpu.ts; 50,000 traces unless given).
 */
const { values: args } = parseArgs({
  options: {
    traces: { type: "string", default: "300000" },
    clients: { type: "string", default: "8" },
    "skip-baseline": { type: "boolean", default: false },
    langsmith: { type: "boolean", default: false },
    usage: { type: "boolean", default: false },
    "big-traces": { type: "string", default: "50000000" },
    repeats: { type: "string", default: "5" },
    roles: { type: "boolean", default: false },
  },
});
const traces = Number(args.traces);
const clients = Number(args.clients);
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

if (args.roles) {
  const result = await roleCpuBench({ traces: args.traces === "300000" ? 50_000 : traces, clients, say });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.bill_matches_reference ? 0 : 1);
}

if (args.usage) {
  const result = await usageBench({ bigTraces: Number(args["big-traces"]), smallOrgs: 1_000, smallTraces: 100, repeats: Number(args.repeats), say });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.daily_exact && result.usage_exact && result.preview_exact && result.small_org_daily_exact && result.attribution_exact && result.costs_exact ? 0 : 1);
}

/** Prometheus' histogram_quantile: linear interpolation inside the bucket holding the rank. */
function histogramQuantile(text: string, name: string, labels: string, q: number): number {
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",${labels}\\} (\\d+)$`, "gm"))].map((m) => ({
    le: m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]),
    count: Number(m[2]),
  }));
  const total = buckets.at(-1)?.count ?? 0;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank) return b.le === Number.POSITIVE_INFINITY ? lower : lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    lower = b.le;
    below = b.count;
  }
  return NaN;
}

say(`generating ${traces} traces`);
const events = generateWorkload({ traces, maxTriggers: 15, seed: 2024 });
const normalized = validateBatch(events); // what ingest publishes, for the baseline
say(`${events.length} events`);

const broker = await startMockCluster();
const maxAhead = 8_000 * 4;

let baseline = { seconds: NaN, eventsPerS: NaN };
if (!args["skip-baseline"]) {
  say("baseline: kafkajs produce + consume, bulk insert into ClickHouse");
  baseline = await measureBaseline(broker.brokers, normalized as unknown as Record<string, string>[], maxAhead);
  say(`baseline: ${Math.round(baseline.eventsPerS)} events/s (${baseline.seconds.toFixed(1)} s)`);
}

const prefix = `bench${Date.now().toString(36)}`;
// Periods close by the bench's command only (the ledger's clock is years past the workload).
const serve = await startServe({ ...freshServeEnv(prefix, broker.brokers), LEDGER_CLOSE_GRACE: "off" });
say(`ledger serve at ${serve.url} (pid ${serve.child.pid})`);

// Authentication and limits stay on: the workload's organizations are on the Plus plan, whose
// hourly limits (500,000 events, 5 GB) this run does not reach; the platform key sends.
// Money owed rides along (§10.7, §10.8): a third of the organizations hold a credit grant, a
// third are Enterprise without price terms (priced as Plus) with a yearly commitment from June.
const GRANT_MICROS = 25_000_000n;
const COMMITMENT_MICROS = 40_000_000n;
const creditOf = (org: string): { grantId: string; micros: bigint } | null => {
  const i = [...new Set(events.map((e) => e.org_id!))].sort().indexOf(org);
  return i % 3 === 1 ? { grantId: "bench-welcome", micros: GRANT_MICROS } : i % 3 === 2 ? { grantId: `commitment/${org}/2024-06`, micros: COMMITMENT_MICROS } : null;
};
for (const org of new Set(events.map((e) => e.org_id!))) {
  const credit = creditOf(org);
  const admin = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${serve.url}${path}`, { method, headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`configuring ${org}: ${method} ${path}: ${res.status} ${await res.text()}`);
  };
  // In effect since before the workload: June's and July's invoices are priced as Plus.
  const enterprise = credit?.grantId.startsWith("commitment/") === true;
  await admin("PUT", `/v1/admin/orgs/${org}`, {
    plan: enterprise ? "enterprise" : "plus",
    payment_method: true,
    occurred_at: "2024-01-01T00:00:00Z",
    ...(enterprise ? { commitment_usd: formatUsd(COMMITMENT_MICROS), term_start: "2024-06" } : {}),
  });
  if (credit && !enterprise) await admin("POST", `/v1/admin/orgs/${org}/credits`, { grant_id: credit.grantId, amount_usd: formatUsd(credit.micros), first_period: "2024-06", reason: "bench", occurred_at: "2024-05-01T00:00:00Z" });
}

const ls = args.langsmith ? langsmithWorkload(events, clients) : null;
const keys = new Map<string, string>();
if (ls) {
  // The LangSmith API takes workspace keys; the extended traces' project is extended by default.
  for (const stream of ls.streams) {
    for (const r of stream) {
      const ws = `${r.org}/${r.workspace}`;
      if (keys.has(ws)) continue;
      const admin = (method: string, path: string, body: unknown) =>
        fetch(`${serve.url}${path}`, { method, headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body: JSON.stringify(body) }).then(async (res) => {
          if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
          return res.json() as Promise<{ key: string }>;
        });
      await admin("PUT", `/v1/admin/orgs/${r.org}/workspaces/${r.workspace}/projects/${ls.extendedProject}`, { default_retention: "extended" });
      keys.set(ws, (await admin("POST", "/v1/admin/keys", { org_id: r.org, workspace_id: r.workspace, kind: "service" })).key);
    }
  }
  say(`langsmith: ${ls.runs} runs and ${ls.expected.length} ledger events in ${ls.streams.reduce((n, s) => n + s.length, 0)} multipart requests, ${keys.size} workspace keys`);
}
const ledgerEvents = ls ? ls.expected : events;
const orgs = [...new Set(events.map((e) => e.org_id!))].sort();
const billing = ls ? [] : billingWorkload(orgs, Math.round((traces * 0.02) / orgs.length));
if (billing.length > 0) say(`${billing.length} seat and deployment-run events; June closes half way through`);
// The bodies are encoded before the clock starts, as the JSON bodies of the ledger bench are:
// multipart/form-data exactly as the SDK's FormData sends it (a JSON part per field).
const BOUNDARY = "----ledgerbench7d2f0c";
const multipartStreams = (ls?.streams ?? []).map((stream) =>
  stream.map((r) => ({
    org: r.org,
    workspace: r.workspace,
    events: r.events,
    body: new Uint8Array(Buffer.from(
      `${r.parts.map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="blob"\r\nContent-Type: application/json\r\n\r\n${value}\r\n`).join("")}--${BOUNDARY}--\r\n`,
    )),
  })),
);

// The parts are in the bodies now; dropping them keeps this client's heap, and so its garbage
// collections in the timed part, small (it shares the two cores with the ledger).
for (const stream of ls?.streams ?? []) for (const r of stream) r.parts = [];
(normalized as unknown[]).length = 0; // the baseline's copy
if (ls) events.length = 0; // the bill is checked against ls.expected

// Each client owns a disjoint set of traces and sends them in log order, so every trace's
// events arrive in order (U3) while the clients run concurrently.
const streams: string[][] = Array.from({ length: clients }, () => []);
if (!ls) {
  const buffers: object[][] = Array.from({ length: clients }, () => []);
  const flush = (c: number) => {
    streams[c]!.push(JSON.stringify(buffers[c]));
    buffers[c] = [];
  };
  // Billing events spread evenly through the log; each keeps its key's client, so its order.
  const merged: Record<string, string>[] = [];
  let b = 0;
  events.forEach((e, i) => {
    while (b < billing.length && b * events.length <= i * billing.length) merged.push(billing[b++]!);
    merged.push(e);
  });
  while (b < billing.length) merged.push(billing[b++]!);
  for (const e of merged) {
    const key = e.trace_id === undefined ? billingEventKey(e) : traceKey(e.org_id!, e.trace_id!);
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
    const c = Math.abs(h) % clients;
    buffers[c]!.push(e);
    if (buffers[c]!.length === 1_000) flush(c);
  }
  buffers.forEach((b, c) => b.length && flush(c));
}

const bar = new cliProgress.SingleBar(
  { stream: process.stderr, noTTYOutput: true, notTTYSchedule: 5_000, format: "bench: {stage} [{bar}] {value}/{total} events" },
  cliProgress.Presets.shades_classic,
);
let sent = 0;
let retries = 0;
let reconnects = 0;
/**
 * The clients' requests, on node:http with keep-alive connections rather than fetch: fetch's
 * streams cost this client ~17 ms of CPU per request, which it took from the two cores the
 * ledger runs on (57 CPU seconds of a 300,000-trace LangSmith run). A request is sent again on
 * a fresh connection when the server had already closed the idle one it went out on: the client
 * builds the workload for many seconds before the clock starts, longer than the server keeps an
 * idle connection. Sending again is safe: ingest's effects are idempotent (deterministic ids),
 * which is what the SDK's own retries rely on too.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 });
function sendOnce(path: string, headers: Record<string, string>, body: string | Uint8Array): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${serve.url}${path}`, { method: "POST", agent, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
async function post(path: string, headers: Record<string, string>, body: string | Uint8Array): Promise<{ status: number; text: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendOnce(path, headers, body);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 3 || (code !== "ECONNRESET" && code !== "EPIPE")) throw error;
      reconnects++;
    }
  }
}
const total = ledgerEvents.length + billing.length;
bar.start(total, 0, { stage: "sending" });
const start = performance.now();
const cpuAtStart = { serve: cpuSeconds(serve.child.pid!), serveChildren: childrenCpuSeconds(serve.child.pid!), broker: cpuSeconds(broker.pid), bench: cpuSeconds(process.pid) };
const threadsAtStart = threadCpuSeconds(serve.child.pid!);
// C1 by command, half way through: markers land between the clients' requests.
let closing: Promise<Response> | null = null;
const closeHalfWay = () => {
  if (closing || billing.length === 0 || sent < total / 2) return;
  closing = fetch(`${serve.url}/v1/admin/periods/2024-06/close`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body: "{}" });
};
const sendRuns = (stream: { org: string; workspace: string; events: number; body: Uint8Array<ArrayBuffer> }[]) => async () => {
  for (const r of stream) {
    for (;;) {
      const res = await post("/runs/multipart", { "x-api-key": keys.get(`${r.org}/${r.workspace}`)!, "content-type": `multipart/form-data; boundary=${BOUNDARY}` }, r.body).catch((error: Error) => {
        throw new Error(`runs of ${r.org}/${r.workspace} (${r.body.length} bytes): ${error.message}; ledger serve said:\n${serve.output().slice(-3000)}`);
      });
      const text = res.text;
      if (res.status === 202) {
        sent += r.events;
        bar.update(sent);
        break;
      }
      if (res.status !== 503) throw new Error(`ingest answered ${res.status} to runs of ${r.org}/${r.workspace}: ${text}`);
      retries++;
      await new Promise((done) => setTimeout(done, 100));
    }
  }
};
await Promise.all(
  ls ? multipartStreams.map((stream) => sendRuns(stream)()) : streams.map(async (bodies) => {
    for (const body of bodies) {
      for (;;) {
        const res = await post("/v1/events", { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body);
        if (res.status === 202) {
          sent += (JSON.parse(res.text) as { accepted: number }).accepted;
          bar.update(sent);
          closeHalfWay();
          break;
        }
        if (res.status !== 503) throw new Error(`ingest answered ${res.status}: ${res.text}`);
        retries++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }),
);
if (closing) {
  const res: Response = await closing;
  if (!res.ok) throw new Error(`closing June: ${res.status} ${await res.text()}`);
}
const admin = createKafka(broker.brokers, "bench").admin();
await admin.connect();
await waitForDrain(admin, ledgerWatches(ledgerTopics(prefix), ledgerGroups(prefix)), { timeoutMs: 30 * 60_000 });
const seconds = (performance.now() - start) / 1000;
// Where the two cores went in the timed part: the ledger, the processes it started (its embedded
// redis-server), the broker, and this client.
const cpu = {
  serve: Math.round(cpuSeconds(serve.child.pid!) - cpuAtStart.serve),
  serve_children: Math.round(childrenCpuSeconds(serve.child.pid!) - cpuAtStart.serveChildren),
  broker: Math.round(cpuSeconds(broker.pid) - cpuAtStart.broker),
  bench: Math.round(cpuSeconds(process.pid) - cpuAtStart.bench),
};
const serveThreads = threadGroups(threadsAtStart, threadCpuSeconds(serve.child.pid!));
bar.stop();

const metrics = await (await fetch(`${serve.url}/metrics`)).text();
// Where the serve process spent its time, from its own histograms (sum of seconds per step).
for (const m of metrics.matchAll(/^(ledger_upgrader_step_seconds|ledger_sink_insert_seconds|ledger_ingest_step_seconds)_(sum|count)\{(\w+)="([^"]+)"\} ([\d.e+-]+)$/gm)) {
  say(`  ${m[1]} ${m[3]}=${m[4]} ${m[2]} ${Number(m[5]).toFixed(m[2] === "sum" ? 1 : 0)}`);
}
const p99 = histogramQuantile(metrics, "ledger_event_visible_seconds", 'table="trace_events_v1"', 0.99) * 1000;
const rss = { serve: peakRssMb(serve.child.pid!), broker: peakRssMb(broker.pid), bench: peakRssMb(process.pid) };

// Correctness, outside the timed part: the bill equals the reference ledger's.
const usage = (await (await fetch(`${serve.url}/v1/usage?by=workspace`, { headers: { "x-api-key": SERVE_PLATFORM_KEY } })).json()) as { rows: { org_id: string; workspace_id: string; period: string; base_traces: number; extended_upgrades: number }[] };
const billed = JSON.stringify(usage.rows.map((r) => [r.org_id, r.workspace_id, r.period, r.base_traces, r.extended_upgrades]));
const correct = billed === JSON.stringify(referenceTuples(ledgerEvents));
const upgrades = usage.rows.reduce((s, r) => s + r.extended_upgrades, 0);

// Invoices, outside the timed part: June final (what came before the markers), July's
// adjustments for June (what came after), July's own lines. June + its adjustments must be
// June with every event known, and July's own lines July's: nothing lost, nothing twice.
let invoicesCorrect = true;
let lateAdjustments = 0;
let annualInvoices = 0;
let creditedInvoices = 0;
const min = (a: bigint, b: bigint) => (a < b ? a : b);
if (billing.length > 0) {
  type Doc = { status: string; total_usd: string; credits_usd: string; amount_due_usd: string; lines: { kind: string; usage_period: string; quantity: number; amount_usd: string; grant_id?: string }[] };
  const invoice = async (org: string, period: string): Promise<Doc> =>
    (await (await fetch(`${serve.url}/v1/invoices/${org}/${period}`, { headers: { "x-api-key": SERVE_PLATFORM_KEY } })).json()) as Doc;
  for (const deadline = Date.now() + 60_000; (await invoice(orgs[0]!, "2024-06")).status !== "closed"; ) {
    if (Date.now() > deadline) throw new Error("June did not become final within 60 s of the drain");
    await new Promise((r) => setTimeout(r, 200));
  }
  const micros = (usd: string) => (usd.startsWith("-") ? -microsOfUsd(usd.slice(1)) : microsOfUsd(usd));
  const reference = referenceTuples(ledgerEvents).map(([org_id, workspace_id, period, base_traces, extended_upgrades]) => ({ org_id, workspace_id, period, base_traces, extended_upgrades, base_charge_usd: "", upgrade_charge_usd: "" }));
  // Which invoice holds each seat charge (SA1, SA2), read as an analyst would. The invoicer's seat
  // pass looks once a minute: charges learned since its last look are assigned by the next.
  const readHeld = async () => ((await (
    await fetch(`${serve.url}/v1/admin/sql`, {
      method: "POST",
      headers: { "x-api-key": SERVE_PLATFORM_KEY, "content-type": "application/json" },
      body: JSON.stringify({ query: `SELECT org_id, month, user_id, invoice_id, count() AS n FROM ${prefix}.seat_charges_v1 GROUP BY org_id, month, user_id, invoice_id ORDER BY org_id, month, user_id`, format: "JSONEachRow" }),
    })
  ).json()) as { output: string }).output
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { org_id: string; month: string; user_id: string; invoice_id: string });
  const charged = orgs.flatMap((org) => ["2024-06", "2024-07"].flatMap((p) => seatCharges(org, p, billing).charged.map((u) => `${org}/${p}/${u}`)));
  let heldRows = await readHeld();
  for (const deadline = Date.now() + 90_000; Date.now() < deadline; heldRows = await readHeld()) {
    const held = new Set(heldRows.map((h) => `${h.org_id}/${h.month}/${h.user_id}`));
    if (charged.every((c) => held.has(c))) break;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const seatsOnly = (l: { kind: string }) => l.kind === "seats" || l.kind === "seat_proration";
  for (const org of orgs) {
    const june = await invoice(org, "2024-06");
    const july = await invoice(org, "2024-07");
    const adjusting = july.lines.filter((l) => l.kind === "adjustment" && l.usage_period === "2024-06");
    lateAdjustments += adjusting.reduce((n, l) => n + Math.abs(l.quantity), 0);
    const usageOf = (doc: Doc) => doc.lines.filter((l) => l.kind !== "adjustment" && l.kind !== "credit" && !seatsOnly(l)).reduce((s, l) => s + micros(l.amount_usd), 0n);
    const juneAll = usageOf(june) + adjusting.reduce((s, l) => s + micros(l.amount_usd), 0n);
    const julyOwn = usageOf(july);
    const expectJune = micros(referenceAmount(org, "2024-06", reference, billing));
    const expectJuly = micros(referenceAmount(org, "2024-07", reference, billing));
    if (june.status !== "closed" || juneAll !== expectJune || julyOwn !== expectJuly) {
      invoicesCorrect = false;
      say(`invoice mismatch for ${org}: June ${juneAll} vs ${expectJune} micro-dollars, July ${julyOwn} vs ${expectJuly}`);
    }
    // Seats: every user charged for June or July held by exactly one invoice; June's invoice
    // holds July's seats it names; July's preview holds every seat present at August's start.
    const held = heldRows.filter((h) => h.org_id === org);
    const holders = new Map<string, Set<string>>();
    for (const h of held) holders.set(`${h.month}/${h.user_id}`, (holders.get(`${h.month}/${h.user_id}`) ?? new Set()).add(h.invoice_id));
    const missing = ["2024-06", "2024-07"].flatMap((p) => seatCharges(org, p, billing).charged.filter((u) => holders.get(`${p}/${u}`)?.size !== 1).map((u) => `${p}/${u}`));
    const juneSeats = june.lines.filter((l) => l.kind === "seats" && l.usage_period === "2024-07").reduce((n, l) => n + l.quantity, 0);
    const heldByJune = held.filter((h) => h.month === "2024-07" && h.invoice_id === `monthly/2024-06/${org}`).length;
    const augustSeats = july.lines.filter((l) => l.kind === "seats" && l.usage_period === "2024-08").reduce((n, l) => n + l.quantity, 0);
    // A monthly invoice holds no seat charge but the next month's seats (SA1).
    const unexpected = [...june.lines.filter((l) => seatsOnly(l) && !(l.kind === "seats" && l.usage_period === "2024-07")), ...july.lines.filter((l) => seatsOnly(l) && !(l.kind === "seats" && l.usage_period === "2024-08"))];
    if (missing.length > 0 || juneSeats !== heldByJune || augustSeats !== seatCharges(org, "2024-08", billing).atStart.length || unexpected.length > 0) {
      invoicesCorrect = false;
      say(`seat mismatch for ${org}: not held once ${missing.join(", ") || "none"}; June holds ${juneSeats} of July's seats (assigned ${heldByJune}); July holds ${augustSeats} of August's`);
    }
    // CR2–CR4 read naively: June's final invoice takes what it can of the grant, July's preview
    // what June left; the amount due is the rest, to the cent.
    const credit = creditOf(org);
    const juneCredit = credit === null ? 0n : min(micros(june.total_usd) > 0n ? micros(june.total_usd) : 0n, credit.micros);
    const julyCredit = credit === null ? 0n : min(micros(july.total_usd) > 0n ? micros(july.total_usd) : 0n, credit.micros - juneCredit);
    for (const [name, doc, expected] of [["June", june, juneCredit], ["July", july, julyCredit]] as const) {
      const lines = doc.lines.filter((l) => l.kind === "credit");
      const due = amountDueMicros(micros(doc.total_usd), expected);
      const linesRight = expected === 0n ? lines.length === 0 : lines.length === 1 && lines[0]!.grant_id === credit!.grantId && micros(lines[0]!.amount_usd) === -expected;
      if (micros(doc.credits_usd) !== expected || micros(doc.amount_due_usd) !== due || !linesRight) {
        invoicesCorrect = false;
        say(`credit mismatch for ${org} in ${name}: credits ${doc.credits_usd} (expected ${formatUsd(expected)}), due ${doc.amount_due_usd} (expected ${formatUsd(due)})`);
      }
    }
    if (credit?.grantId.startsWith("commitment/")) {
      // AC1 by the ledger's clock: every term year from June 2024 to now, each $40.
      const doc = (await (await fetch(`${serve.url}/v1/credits/${org}`, { headers: { "x-api-key": SERVE_PLATFORM_KEY } })).json()) as { annual_invoices?: { term_start: string; amount_usd: string }[] };
      const years = (doc.annual_invoices ?? []).map((a) => `${a.term_start}=${a.amount_usd}`);
      const expected = periodsBetween("2024-06", periodKeyOf(Date.now())).filter((p) => p.endsWith("-06")).map((p) => `${p}=${formatUsd(COMMITMENT_MICROS)}`);
      if (JSON.stringify(years) !== JSON.stringify(expected)) {
        invoicesCorrect = false;
        say(`annual invoices of ${org}: ${years.join(", ")} (expected ${expected.join(", ")})`);
      }
      annualInvoices += years.length;
    }
    creditedInvoices += juneCredit + julyCredit > 0n ? 1 : 0;
  }
  say(`invoices equal the reference for ${orgs.length} organizations: ${invoicesCorrect} (late effects adjusted on July: ${lateAdjustments}; organizations with credits applied: ${creditedInvoices}; annual invoices: ${annualInvoices})`);
}

serve.child.kill("SIGTERM");
await serve.exited;
await admin.disconnect();
await broker.stop();

const result = {
  mode: ls ? "langsmith" : "events",
  events: total,
  ...(ls ? { runs: ls.runs, runs_per_s: Math.round(ls.runs / seconds) } : {}),
  traces,
  upgraded_share: Number((upgrades / traces).toFixed(3)),
  seconds: Number(seconds.toFixed(1)),
  events_per_s: Math.round(total / seconds),
  baseline_events_per_s: Math.round(baseline.eventsPerS),
  ratio: Number((total / seconds / baseline.eventsPerS).toFixed(3)),
  p99_visible_ms: Math.round(p99),
  peak_rss_mb: rss,
  cpu_s: cpu,
  serve_threads_cpu_s: serveThreads,
  http_503_retries: retries,
  reconnects,
  bill_matches_reference: correct,
  ...(billing.length > 0 ? { billing_events: billing.length, late_adjusted_effects: lateAdjustments, invoices_match_reference: invoicesCorrect } : {}),
};
if (ls) say(`end to end: ${result.runs_per_s} runs/s`);
say(`end to end: ${result.events_per_s} events/s over ${result.seconds} s; baseline ${result.baseline_events_per_s} events/s; ratio ${result.ratio}`);
say(`p99 received → visible: ${result.p99_visible_ms} ms; peak RSS MB: serve ${rss.serve}, broker ${rss.broker}, bench ${rss.bench}`);
say(`CPU seconds in the timed part: serve ${cpu.serve} (and ${cpu.serve_children} in the processes it started: redis-server), broker ${cpu.broker}, bench client ${cpu.bench}`);
say(`bill equals the reference ledger: ${correct}`);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(correct && invoicesCorrect ? 0 : 1);
