import { Redis } from "ioredis";

/** The client as the rest of the ledger names it: no other package imports ioredis. */
export type RedisClient = Redis;

/**
 * A client that fails fast while Redis is away (no offline queue, one attempt per command, a
 * short timeout) and reconnects by itself: ingest then fails open and recovers on its own.
 * `unix:///path/redis.sock` or `redis://[user:pass@]host:port[/db]`.
 */
export function connectRedis(url: string, options: { commandTimeoutMs?: number } = {}): Redis {
  const common = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    connectTimeout: 2_000,
    retryStrategy: (attempt: number) => Math.min(50 * attempt, 1_000),
    lazyConnect: false,
  };
  const client = url.startsWith("unix://") ? new Redis({ ...common, path: url.slice("unix://".length) }) : new Redis(url, common);
  // Errors surface on the commands that fail; the connection's own errors are expected while
  // Redis is away and must not crash the process.
  client.on("error", () => {});
  return client;
}
