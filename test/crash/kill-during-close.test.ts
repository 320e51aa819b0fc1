import { afterAll, beforeAll, expect, test } from "vitest";
import { createKafka, ledgerGroups, ledgerTopics, ledgerWatches, startMockCluster, waitForDrain, type MockCluster, type KafkaAdmin } from "@ledger/kafka";
import { uniqueName } from "../support/engines";
import { ev } from "../support/pipeline";
import { waitFor } from "../support/wait";
import { freshServeEnv, startServe, type ServeProcess, SERVE_PLATFORM_KEY } from "../support/serve-process";

/**
 * C1–C3 and D3 together: `ledger serve` is SIGKILLed while it closes June and late June traces
 * are arriving. After a restart (same broker, same chDB directory) the close is completed, the
 * unacknowledged requests are resent, and then: every June trace is billed exactly once, on
 * June's final invoice or as an adjustment on July's; every row's booking agrees with its
 * position relative to June's marker in its partition, whichever process wrote it; June's
 * invoice does not change when more late events arrive.
 */
let broker: MockCluster;
let admin: KafkaAdmin;
const serves: ServeProcess[] = [];

beforeAll(async () => {
  broker = await startMockCluster();
  admin = createKafka(broker.brokers, "close-crash-test").admin();
  await admin.connect();
});
afterAll(async () => {
  for (const s of serves) s.child.kill("SIGKILL");
  await admin?.disconnect();
  await broker?.stop();
});

const headers = { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY };
const post = (url: string, path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

test("SIGKILL during a close: bookings follow the markers' positions, nothing is billed twice or lost", async () => {
  const prefix = uniqueName("closecrash");
  // No automatic close: this test closes June itself (the ledger's clock is in 2026).
  const env = { ...freshServeEnv(prefix, broker.brokers), LEDGER_CLOSE_GRACE: "off" };
  let serve = await startServe(env);
  serves.push(serve);
  const configured = await fetch(`${serve.url}/v1/admin/orgs/k`, { method: "PUT", headers, body: JSON.stringify({ plan: "plus", payment_method: true }) });
  expect(configured.status).toBeLessThan(300);
  const batch = (from: number, n: number, day: string) => Array.from({ length: n }, (_, i) => ev.created("k", `t-${from + i}`, `2024-06-${day}T12:00:00Z`, "base", { id: `c-${from + i}` }));
  const send = async (events: object[]) => {
    for (;;) {
      const res = await post(serve.url, "/v1/events", events).catch(() => null);
      if (res?.status === 202) return;
      if (res && res.status !== 503) throw new Error(`unexpected ${res.status}: ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  for (let i = 0; i < 6; i++) await send(batch(i * 1_000, 1_000, "10"));
  const topics = ledgerTopics(prefix);
  const drained = () => waitForDrain(admin, ledgerWatches(topics, ledgerGroups(prefix)), { timeoutMs: 300_000 });
  await drained();

  // Kill inside the close: its markers are on the input topic (the close may not be recorded
  // yet, no consumer has passed them all) and the first of three late batches is on it after
  // them, the others in flight.
  const highWater = async () => (await admin.fetchTopicOffsets(topics.events)).reduce((sum, p) => sum + Number(p.high), 0);
  const before = await highWater();
  const closing = post(serve.url, "/v1/admin/periods/2024-06/close", {}).catch(() => null);
  await waitFor("June's markers on every partition", async () => (await highWater()) >= before + 4, 30_000, 1);
  const late = [0, 1, 2].map((i) => batch(6_000 + i * 1_000, 1_000, "28"));
  const inFlight = [closing, ...late.map((b) => post(serve.url, "/v1/events", b).catch(() => null))];
  await waitFor("a late batch on the topic after the markers", async () => (await highWater()) >= before + 4 + 1_000, 30_000, 1);
  serve.child.kill("SIGKILL");
  await serve.exited;
  await Promise.all(inFlight);

  serve = await startServe(env);
  serves.push(serve);
  // Complete the close: 200 if the killed process had not recorded it (its markers are written
  // again, which consumers pass without effect), 409 if it had.
  const closed = await post(serve.url, "/v1/admin/periods/2024-06/close", {});
  expect([200, 409]).toContain(closed.status);
  for (const b of late) await send(b); // at least once: resend what may not have landed
  await drained();

  const invoice = (period: string) =>
    waitFor(`the ${period} invoice${period === "2024-06" ? ", final" : ""}`, async () => {
      const doc = (await (await fetch(`${serve.url}/v1/invoices/k/${period}`, { headers })).json()) as { status: string; lines: { kind: string; adjusts?: string; quantity: number }[] };
      return (period !== "2024-06" || doc.status === "closed") && doc;
    }, 120_000, 200);
  const june = await invoice("2024-06");
  const july = await invoice("2024-07");
  const inJune = june.lines.find((l) => l.kind === "base_traces")?.quantity ?? 0;
  const adjusted = july.lines.find((l) => l.kind === "adjustment" && l.adjusts === "base_traces")?.quantity ?? 0;
  expect(inJune).toBeGreaterThanOrEqual(6_000);
  expect(inJune + adjusted).toBe(9_000);

  // Every row of a June creation was booked by its position: before the partition's first June
  // marker → June, after it → July, whether the killed process or its successor wrote it.
  const sql = async (query: string) => {
    const res = await post(serve.url, "/v1/admin/sql", { query, format: "JSONEachRow" });
    expect(res.status).toBe(200);
    return ((await res.json()) as { output: string }).output.trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
  };
  const [check] = await sql(`
    SELECT count() AS rows, countIf((e.booked_period = '2024-06') != (e.kafka_offset < m.first_marker)) AS wrong, uniqExact(m.kafka_partition) AS partitions
    FROM ${prefix}.trace_events_v1 AS e
    INNER JOIN (SELECT kafka_partition, min(kafka_offset) AS first_marker FROM ${prefix}.period_marks_v1
                WHERE consumer = 'sink' AND topic = '${topics.events}' AND period = '2024-06' GROUP BY kafka_partition) AS m
    ON e.kafka_partition = m.kafka_partition
    WHERE e.org_id = 'k' AND e.period = '2024-06'`);
  expect(check!.wrong).toBe(0);
  expect(Number(check!.rows)).toBeGreaterThanOrEqual(9_000);
  expect(check!.partitions).toBe(4);

  // C3: one more late June trace changes July's adjustment, not June.
  await send(batch(9_000, 1, "29"));
  await drained();
  expect(await invoice("2024-06")).toEqual(june);
  expect((await invoice("2024-07")).lines.find((l) => l.kind === "adjustment")?.quantity).toBe(adjusted + 1);

  serve.child.kill("SIGTERM");
  expect(await serve.exited).toBe(0);
}, 600_000);
