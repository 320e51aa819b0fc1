import { spawn, type ChildProcess } from "node:child_process";

/**
 * librdkafka's in-memory Kafka cluster, started through `kcat` (see docs/operations.md, "Engines").
 * It speaks the real protocol; it keeps only the last 5 MB per partition and loses everything
 * when it stops.
 */
export interface MockCluster {
  readonly brokers: string[];
  readonly pid: number;
  stop(): Promise<void>;
}

export class MockClusterError extends Error {
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MockClusterError";
  }
}

export async function startMockCluster(options: { brokers?: number; timeoutMs?: number } = {}): Promise<MockCluster> {
  const count = options.brokers ?? 3;
  const child: ChildProcess = spawn(
    "kcat",
    ["-b", "127.0.0.1:1", "-X", `test.mock.num.brokers=${count}`, "-P", "-t", "__ledger_mock_boot"],
    { stdio: ["pipe", "ignore", "pipe"] },
  );
  const brokers = await new Promise<string[]>((resolve, reject) => {
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new MockClusterError(`kcat did not announce its mock cluster within ${options.timeoutMs ?? 10_000} ms: ${stderr}`));
    }, options.timeoutMs ?? 10_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(
        new MockClusterError(
          `cannot start the embedded Kafka cluster: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "kcat is not installed (apt-get install -y kcat)" : error.message}`,
          { cause: error },
        ),
      );
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new MockClusterError(`kcat exited (${code}) before the mock cluster was up: ${stderr}`));
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /replaced with (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(m[1]!.split(","));
      }
    });
  });
  child.stderr!.resume();
  return {
    brokers,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin!.end(); // closing stdin stops kcat and its cluster
        setTimeout(() => child.kill("SIGKILL"), 2_000).unref();
      }),
  };
}
