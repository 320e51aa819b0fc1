import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A Redis server of the project's own for the embedded default (Debian's `redis-server`),
 * listening only on a Unix socket in a temporary directory (no port clash between parallel
 * tests) and keeping nothing on disk: a restart starts empty, as counters are rebuilt from
 * ClickHouse anyway.
 */
export interface RedisServer {
  readonly url: string;
  readonly socket: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export class RedisServerError extends Error {
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RedisServerError";
  }
}

export async function startRedisServer(options: { dir?: string; timeoutMs?: number } = {}): Promise<RedisServer> {
  const owned = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "ledger-redis-"));
  const socket = join(dir, "redis.sock");
  // Through setpriv (util-linux): the kernel kills the server when the thread that started it
  // dies, SIGKILL included, so a crashed ledger leaves no Redis behind. Start it from a thread
  // that lives as long as the process (the main thread).
  const child: ChildProcess = spawn(
    "setpriv",
    ["--pdeathsig", "KILL", "--", "redis-server", "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    child.once("error", (error) =>
      reject(
        new RedisServerError(
          `cannot start the embedded Redis: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "setpriv is not installed (apt-get install -y util-linux)" : error.message}`,
          { cause: error },
        ),
      ),
    );
    child.once("exit", (code) =>
      reject(new RedisServerError(code === 127 ? "cannot start the embedded Redis: redis-server is not installed (apt-get install -y redis-server)" : `redis-server exited (${code}) before it listened: ${stderr}`)),
    );
    const poll = () => {
      if (existsSync(socket)) return resolve();
      if (Date.now() > deadline) return reject(new RedisServerError(`redis-server did not open ${socket} in time: ${stderr}`));
      setTimeout(poll, 20);
    };
    poll();
  });
  child.removeAllListeners("exit");
  return {
    url: `unix://${socket}`,
    socket,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          if (owned) rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once("exit", done);
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3_000).unref();
      }),
  };
}
