import { readFileSync, rmSync } from "node:fs";
import cliProgress from "cli-progress";
import { describeProblems, InvalidBatchError, isAccountEvent, LOG_EVENTS, parseNdjson, validateBatchOf, type AccountEvent, type InputEvent, type LogEvent } from "@ledger/events";
import { queryUsage } from "@ledger/clickhouse";
import { LedgerStack } from "@ledger/stack";
import type { UsageRow } from "@ledger/billing";
import { configFromEnv, freshRunEngines } from "./engines-from-env";

export class ReplayInputError extends Error {
  readonly retriable = false;
  constructor(
    readonly problems: InvalidBatchError["problems"],
    message = `the input was refused; nothing was published:\n  ${describeProblems(problems, 50).split("; ").join("\n  ")}`,
  ) {
    super(message);
    this.name = "ReplayInputError";
  }
}

/** Reads and validates the whole log (trace and account events) before anything is published (D4). */
export function readReplayInput(source: string): LogEvent[] {
  let text: string;
  try {
    text = source === "-" ? readFileSync(0, "utf8") : readFileSync(source, "utf8");
  } catch (error) {
    throw new ReplayInputError([], `cannot read ${source === "-" ? "standard input" : source}: ${(error as Error).message}`);
  }
  try {
    const { values, lines } = parseNdjson(text);
    return validateBatchOf(LOG_EVENTS, values, (i) => ({ line: lines[i]! }));
  } catch (error) {
    if (error instanceof InvalidBatchError) throw new ReplayInputError(error.problems);
    throw error;
  }
}

// One produce request per chunk: bigger record batches, fewer consumer round trips.
const CHUNK = 4_000;

/**
 * Pushes a validated log, in file order, through Kafka → upgrader → sink → ClickHouse on a
 * fresh stack, waits until the views reflect every event, and returns the report.
 */
export async function replay(events: LogEvent[], options: { by: "org" | "workspace"; progress: boolean }): Promise<UsageRow[]> {
  const config = configFromEnv();
  const run = freshRunEngines(config.engines, "replay");
  const log = (line: string) => options.progress && process.stderr.write(`${line}\n`);
  const stack = await LedgerStack.start({ engines: run.engines, upgrader: config.upgrader, sink: config.sink, log });
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2_000, format: "{stage} [{bar}] {value}/{total} events", hideCursor: false },
    cliProgress.Presets.shades_classic,
  );
  try {
    if (options.progress) bar.start(events.length, 0, { stage: "publishing" });
    for (let i = 0; i < events.length; i += CHUNK) {
      const chunk = events.slice(i, i + CHUNK);
      // Stay within what the broker keeps: never run further ahead of the consumers.
      await stack.governor.waitForRoom(Number.POSITIVE_INFINITY, chunk.length);
      if (stack.fatal) throw stack.fatal;
      // Replays are recorded history: no key, no limits (§6.5). Account events go to their own topic.
      const accounts = chunk.filter((e): e is AccountEvent => isAccountEvent(e));
      await stack.publishAccounts(accounts);
      await stack.publisher.publish(chunk.filter((e): e is InputEvent => !isAccountEvent(e)));
      if (options.progress) bar.update(Math.min(i + CHUNK, events.length));
    }
    const total = events.length;
    await stack.waitUntilDrained({
      onProgress: (remaining) => options.progress && bar.update(Math.max(0, total - Number(remaining)), { stage: "billing   " }),
    });
    if (options.progress) {
      bar.update(total, { stage: "billing   " });
      bar.stop();
    }
    return await queryUsage(stack.clickhouse, { by: options.by });
  } finally {
    if (options.progress) bar.stop();
    await stack.stop();
    if (run.tempDir) rmSync(run.tempDir, { recursive: true, force: true });
  }
}
