import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { createKafka, ledgerGroups, ledgerTopics, ledgerWatches, startMockCluster, waitForDrain } from "@ledger/kafka";
import { uniqueName } from "./engines";
import { ledgerApi } from "./ledger-api";
import { freshServeEnv, SERVE_PLATFORM_KEY, startServe, type ServeProcess } from "./serve-process";

/**
 * `ledger serve` as its own process (its ingest thread included) on a broker this process
 * started, so a test can read every topic's offsets: what a request published, and whether the
 * process is still alive and answering, the way an attacker would meet it.
 */
export interface EdgeLedger {
  serve: ServeProcess;
  url: string;
  api: ReturnType<typeof ledgerApi>;
  /**
   * Messages ever published to the topics requests publish to (trace events, runs, accounts);
   * the consumers' own (upgrades, rejections, dead letters) follow earlier requests on their own.
   */
  published(): Promise<bigint>;
  /** `ledger_events_accepted_total` and `ledger_api_failures_total` from `/metrics`. */
  counters(): Promise<{ accepted: number; failures: number }>;
  /** `/healthz` within a second: the process is alive and its API thread is not stalled. */
  healthy(): Promise<boolean>;
  /** serve's resident memory, in MB (from /proc). */
  rssMb(): number;
  /** Resolves once every event published so far is in the views. */
  drained(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEdgeLedger(label: string, env: Record<string, string> = {}): Promise<EdgeLedger> {
  const broker = await startMockCluster();
  const prefix = uniqueName(label);
  const kafka = createKafka(broker.brokers, `${prefix}-test`);
  const admin = kafka.admin();
  let serve: ServeProcess | undefined;
  const stop = async () => {
    if (serve && serve.child.exitCode === null) {
      serve.child.kill("SIGTERM");
      await serve.exited;
    }
    await admin.disconnect().catch(() => {});
    await broker.stop();
  };
  try {
    await admin.connect();
    serve = await startServe({ ...freshServeEnv(prefix, broker.brokers), LEDGER_CLOSE_GRACE: "off", ...env });
  } catch (error) {
    await stop();
    throw error;
  }
  const s = serve;
  const topics = ledgerTopics(prefix);
  return {
    serve: s,
    url: s.url,
    api: ledgerApi(s.url, SERVE_PLATFORM_KEY),
    async published() {
      let total = 0n;
      for (const topic of [topics.events, topics.runs, topics.accounts]) {
        for (const o of await admin.fetchTopicOffsets(topic)) total += BigInt(o.high);
      }
      return total;
    },
    async counters() {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "gm"))].reduce((n, m) => n + Number(m[1]), 0);
      return { accepted: sum("ledger_events_accepted_total"), failures: sum("ledger_api_failures_total") };
    },
    async healthy() {
      if (s.child.exitCode !== null) return false;
      try {
        return (await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(1_000) })).status === 200;
      } catch {
        return false;
      }
    },
    rssMb() {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.child.pid}/status`, "utf8"))?.[1];
      return Number(kb) / 1024;
    },
    drained: () => waitForDrain(admin, ledgerWatches(topics, ledgerGroups(prefix)), { timeoutMs: 60_000 }),
    stop,
  };
}

/** Bytes written to the API on a raw socket, malformed HTTP included: what the server answered within `waitMs`. */
export function rawExchange(url: string, bytes: Buffer, waitMs: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let answer = "";
    socket.on("data", (d) => (answer += d.toString("latin1")));
    socket.on("error", () => {});
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.on("close", done);
    setTimeout(done, waitMs);
  });
}

/**
 * A request whose body is held back after its first bytes: what a client that stops sending (or
 * sends `Expect: 100-continue` and waits) leaves the server with.
 */
export const requestHeldOpen = (url: string, head: string, firstBytes: Buffer, waitMs: number) => rawExchange(url, Buffer.concat([Buffer.from(head, "latin1"), firstBytes]), waitMs);
