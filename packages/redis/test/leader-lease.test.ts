import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { NotLeaderError } from "@ledger/batching";
import { connectRedis, LeaderLease, startRedisServer, type RedisClient, type RedisServer } from "../src";
import { waitFor } from "../../../test/support/wait";

let server: RedisServer;
const clients: RedisClient[] = [];
const leases: LeaderLease[] = [];
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  for (const l of leases) l.stopRenewing();
  for (const c of clients) c.disconnect();
  await server?.stop();
});

function instance(name: string, holder: string, ttlMs: number): LeaderLease {
  const client = connectRedis(server.url);
  clients.push(client);
  const lease = new LeaderLease(client, { name, holder, ttlMs });
  leases.push(lease);
  return lease;
}

test("one instance leads; a clean stop lets the follower take over at its next try, with a higher term", async () => {
  const name = `lease-${randomBytes(4).toString("hex")}`;
  const a = instance(name, "a", 3_000);
  const b = instance(name, "b", 3_000);
  await a.start();
  await b.start();
  expect([a.leads(), b.leads()]).toEqual([true, false]);
  await a.confirm();
  await expect(b.confirm()).rejects.toBeInstanceOf(NotLeaderError);
  const first = a.term!;

  await a.stop();
  expect(a.leads()).toBe(false);
  await waitFor("b to lead after a's stop", () => b.leads(), 3_000, 20);
  await b.confirm();
  expect(b.term! > first).toBe(true);
  await b.stop();
});

test("a leader that stopped renewing (a crash, a pause) is replaced once its lease runs out, and cannot write when it resumes", async () => {
  const name = `lease-${randomBytes(4).toString("hex")}`;
  const ttl = 1_200;
  const a = instance(name, "a", ttl);
  const b = instance(name, "b", ttl);
  await a.start();
  await b.start();
  expect(a.leads()).toBe(true);
  const started = Date.now();
  a.stopRenewing();
  // Still within its lease: b waits.
  await new Promise((r) => setTimeout(r, ttl / 3));
  expect(b.leads()).toBe(false);
  await waitFor("b to take the lease once a's ran out", () => b.leads(), 5_000, 20);
  expect(Date.now() - started).toBeGreaterThanOrEqual(ttl - 50);
  expect(b.term! > a.term!).toBe(true);

  // a resumes believing it leads; Redis says otherwise before any write.
  expect(a.leads()).toBe(true);
  await expect(a.confirm()).rejects.toBeInstanceOf(NotLeaderError);
  expect(a.leads()).toBe(false);
  await b.confirm();
  await b.stop();
});

test("while Redis is away nobody confirms; the leader gives the lease up on its next renewal", async () => {
  const own = await startRedisServer();
  const client = connectRedis(own.url);
  clients.push(client);
  const lease = new LeaderLease(client, { name: "away", holder: "a", ttlMs: 1_000 });
  leases.push(lease);
  await lease.start();
  expect(lease.leads()).toBe(true);
  await own.stop();
  await expect(lease.confirm()).rejects.toThrow();
  await waitFor("the leader to give up", () => !lease.leads(), 3_000, 20);
  lease.stopRenewing();
});
