import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The platform key test and bench `serve` processes run with. */
export const SERVE_PLATFORM_KEY = "lsv2_sk_platform_serve_0123456789abcdef0123456789abcdef";

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * V8's flags for `ledger serve`, as `pnpm ledger` sets them (docs/configuration.md): young
 * generations of 64 MB semi-spaces, so that the consumers' short-lived objects (decoded
 * messages, rows) die young instead of being copied and promoted at every 16 MB.
 */
export const SERVE_NODE_FLAGS = ["--max-semi-space-size=64"];

/** libuv's thread pool as `pnpm ledger` sizes it (docs/configuration.md), unless the caller's environment says otherwise. */
export const SERVE_THREAD_POOL = { UV_THREADPOOL_SIZE: "8" };

/** `ledger serve` (or another long-running command, such as `ingest`) as its own process, the way an operator runs it. */
export async function startServe(env: Record<string, string>, timeoutMs = 60_000, args = ["serve", "--port", "0"]): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, ...(process.env.LEDGER_SERVE_NODE_ARGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx", "packages/cli/src/main.ts", ...args], {
    cwd: ROOT,
    env: { ...SERVE_THREAD_POOL, ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening:\n${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

/** Environment of a `serve` with its own topics, groups, database and chDB directory. */
export function freshServeEnv(name: string, brokers?: string[]): Record<string, string> {
  return {
    ...(brokers ? { LEDGER_KAFKA_BROKERS: brokers.join(",") } : {}),
    LEDGER_TOPIC_PREFIX: name,
    LEDGER_CLICKHOUSE_DATABASE: name,
    LEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), `ledger-${name}-`)),
    LEDGER_TEST_CONTAINERS: "0",
    LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY,
  };
}
