import { Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, expect, test } from "vitest";
import { BatchConsumer, startMockCluster, type MockCluster } from "../src";

const SYNC_GROUP = 14;

let cluster: MockCluster | undefined;
const consumers: BatchConsumer[] = [];
afterAll(async () => {
  for (const c of consumers) await c.stop().catch(() => {});
  await cluster?.stop();
});

/** A connection whose first SyncGroup request leaves `delayMs` late: a follower slower than its leader. */
function lateSyncSocket(delayMs: number) {
  let delayed = false;
  return ({ host, port, onConnect }: { host: string; port: number; onConnect: () => void }) => {
    const socket = new Socket();
    // Wrapped once connected: connecting sets the socket's own `write` anew.
    socket.connect({ host, port }, () => {
      const write = socket.write.bind(socket) as (chunk: Buffer, ...rest: unknown[]) => boolean;
      socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
        if (!delayed && Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === SYNC_GROUP) {
          delayed = true;
          setTimeout(() => write(chunk, ...rest), delayMs);
          return true;
        }
        return write(chunk, ...rest);
      }) as typeof socket.write;
      onConnect();
    });
    return socket;
  };
}

// librdkafka's test cluster completes a generation on the leader's SyncGroup and refuses a
// follower's that arrives after it (code 42, INVALID_REQUEST). Under load the suite's consumers
// met it; the follower must join again, not stop.
test("a follower whose SyncGroup arrives after the leader's joins again and the group reads every message once committed", async () => {
  cluster = await startMockCluster();
  const name = `late_sync_${randomBytes(4).toString("hex")}`;
  const kafka = (socketFactory?: ReturnType<typeof lateSyncSocket>) =>
    new Kafka({ clientId: name, brokers: cluster!.brokers, logLevel: logLevel.NOTHING, ...(socketFactory ? { socketFactory } : {}) });
  const plain = kafka();
  const admin = plain.admin();
  await admin.connect();
  const producer = plain.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const total = 400;
  await producer.send({ topic: name, messages: Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: String(i) })) });
  await producer.disconnect();

  const seen = new Set<string>();
  const fatal: Error[] = [];
  const joins: Record<string, number> = { leader: 0, follower: 0 };
  const consumer = (role: "leader" | "follower", connection: Kafka) =>
    new BatchConsumer({
      kafka: connection,
      admin,
      groupId: name,
      topics: [name],
      sessionTimeoutMs: 6_000,
      handle: async ({ messages }) => {
        for (const m of messages) seen.add(m.value!.toString());
      },
      onFatal: (error) => fatal.push(error),
      onAssignment: () => void joins[role]!++,
    });
  const leader = consumer("leader", plain);
  const follower = consumer("follower", kafka(lateSyncSocket(1_500)));
  consumers.push(leader, follower);
  // The first member to join leads; the follower joins within the group's initial delay.
  await leader.start();
  await new Promise((r) => setTimeout(r, 300));
  await follower.start();

  const deadline = Date.now() + 60_000;
  const committed = async () => {
    const offsets = await admin.fetchOffsets({ groupId: name, topics: [name] });
    const ends = await admin.fetchTopicOffsets(name);
    return offsets[0]!.partitions.every((p) => p.offset === ends.find((e) => e.partition === p.partition)!.high);
  };
  while (Date.now() < deadline && fatal.length === 0 && !(seen.size === total && joins.follower > 0 && (await committed()))) {
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(fatal.map((e) => e.message)).toEqual([]);
  expect(joins.follower).toBeGreaterThan(0);
  expect(seen.size).toBe(total);
  expect(await committed()).toBe(true);
  await admin.disconnect();
}, 90_000);
