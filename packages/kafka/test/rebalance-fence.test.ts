import { randomBytes } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, expect, test } from "vitest";
import { BatchConsumer, ensureTopics, startMockCluster, type MockCluster } from "../src";

let cluster: MockCluster | undefined;
const consumers: BatchConsumer[] = [];
afterAll(async () => {
  for (const c of consumers) await c.stop().catch(() => {});
  await cluster?.stop();
});

const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

// A member whose commit is refused because another member left keeps fetching until its next
// heartbeat tells kafkajs to join again. Handling what it fetched meanwhile would skip the batches
// the refusal dropped: an order-dependent handler (the upgrader) then decided a trace's upgrade
// without its earlier trigger. Within one assignment, a partition's batches must stay contiguous.
test("after a commit refused by a rebalance, a member handles nothing more of the partition until it joined again: no batch skips offsets", async () => {
  cluster = await startMockCluster();
  const name = `fence_${randomBytes(4).toString("hex")}`;
  const kafka = new Kafka({ clientId: name, brokers: cluster.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [name], { partitions: 2, replicationFactor: 1 }); // 4 on the test cluster
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();

  // What the surviving member handled, per assignment (a join starts a new one).
  const epochs: { partition: number; first: bigint; last: bigint }[][] = [];
  const assignments: Record<string, number[]>[] = [];
  const seen = new Set<string>();
  let hold: { entered: () => void; release: Promise<void> } | null = null;
  const fatal: Error[] = [];
  const survivor = new BatchConsumer({
    kafka,
    admin,
    groupId: name,
    topics: [name],
    sessionTimeoutMs: 30_000,
    handle: async ({ partition, messages }) => {
      epochs.at(-1)!.push({ partition, first: BigInt(messages[0]!.offset), last: BigInt(messages.at(-1)!.offset) });
      for (const m of messages) seen.add(m.value!.toString());
      if (hold) {
        const h = hold;
        hold = null;
        h.entered();
        await h.release;
      }
    },
    onFatal: (error) => fatal.push(error),
    onAssignment: (assignment) => {
      epochs.push([]);
      assignments.push(assignment);
    },
  });
  const leaver = new BatchConsumer({ kafka, admin, groupId: name, topics: [name], sessionTimeoutMs: 30_000, handle: async () => {}, onFatal: (error) => fatal.push(error) });
  consumers.push(survivor, leaver);
  await survivor.start();
  await leaver.start();
  await waitUntil("each member to hold partitions of its own", () => (assignments.at(-1)?.[name]?.length ?? 0) > 0 && assignments.length >= 2);
  const mine = assignments.at(-1)![name]![0]!;

  let sent = 0;
  const send = (n: number) =>
    producer.send({ topic: name, messages: Array.from({ length: n }, () => ({ partition: mine, value: String(sent++) })) });

  // The survivor is inside a batch when the other member leaves; more is queued behind it.
  let release!: () => void;
  const entered = new Promise<void>((resolve) => (hold = { entered: resolve, release: new Promise<void>((r) => (release = r)) }));
  await send(5);
  await entered;
  await send(20);
  await new Promise((r) => setTimeout(r, 300)); // fetched into the survivor's lane
  await leaver.abort();
  release(); // its commit now meets the rebalance

  // The log goes on arriving while the survivor has not yet learnt it must join again.
  for (let i = 0; i < 60; i++) {
    await send(10);
    await new Promise((r) => setTimeout(r, 25));
  }
  await waitUntil("every message handled and committed", async () => {
    const [offsets] = await admin.fetchOffsets({ groupId: name, topics: [name] });
    return seen.size === sent && offsets!.partitions.find((p) => p.partition === mine)?.offset === String(sent);
  });

  expect(fatal).toEqual([]);
  expect(assignments.length).toBeGreaterThan(2); // the leave made the survivor join again
  for (const epoch of epochs) {
    const next = new Map<number, bigint>();
    for (const b of epoch) {
      const expected = next.get(b.partition);
      if (expected !== undefined) expect({ partition: b.partition, first: b.first }).toEqual({ partition: b.partition, first: expected });
      next.set(b.partition, b.last + 1n);
    }
  }
  await producer.disconnect();
  await admin.disconnect();
}, 120_000);
