import { startMockCluster } from "@ledger/kafka";
import { startRedisServer } from "@ledger/redis";
import { freshServeEnv, SERVE_PLATFORM_KEY, startServe, type ServeProcess } from "./serve-process";
import { uniqueName } from "./engines";

/**
 * A ledger with several ingest replicas, each its own process, as in production: one broker
 * and one Redis shared by all, `ledger serve` as the primary (consumers, ClickHouse) and
 * `ledger ingest --primary` for every further replica.
 */
export interface Replicas {
  primary: ServeProcess;
  /** Ingest URLs, the primary's first. */
  urls: string[];
  platformKey: string;
  /** Stops the shared Redis (the replicas fail open until it is back). */
  stopRedis(): Promise<void>;
  stop(): Promise<void>;
}

export async function startReplicas(count: number, label = "replicas", extraEnv: Record<string, string> = {}): Promise<Replicas> {
  const broker = await startMockCluster();
  const redis = await startRedisServer();
  const env = { ...freshServeEnv(uniqueName(label), broker.brokers), LEDGER_REDIS_URL: redis.url, ...extraEnv };
  const processes: ServeProcess[] = [];
  const stop = async () => {
    for (const p of processes.reverse()) {
      p.child.kill("SIGTERM");
      await p.exited;
    }
    await redis.stop();
    await broker.stop();
  };
  try {
    const primary = await startServe(env);
    processes.push(primary);
    for (let i = 1; i < count; i++) processes.push(await startServe(env, 60_000, ["ingest", "--primary", primary.url, "--port", "0"]));
    return { primary, urls: processes.map((p) => p.url), platformKey: SERVE_PLATFORM_KEY, stopRedis: () => redis.stop(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
