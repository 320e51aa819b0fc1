import { z } from "zod";
import type { LedgerClickHouse } from "./client";

const queryId = (name: string) => `${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;

/** One retained part of a run, as `GET /runs/{id}` merges them. */
export const retainedRunPart = z.object({ part: z.string(), trace_id: z.string(), run: z.string(), attachments: z.string(), retained_until: z.string() });
export type RetainedRunPart = z.output<typeof retainedRunPart>;

export interface RunLookup {
  orgId: string;
  workspaceId: string;
  runId: string;
  /** The ledger's clock: a part whose expiry has passed is not served, merged away or not. */
  nowMs: number;
}

/**
 * Named query `runs.retained`: the parts of one run of one workspace still retained at `nowMs`,
 * the latest expiry of each (an upgrade's copy), in the order they were received. Found by the
 * bloom filter on run_id; identifiers only as parameters.
 */
export async function retainedRunParts(ch: LedgerClickHouse, q: RunLookup): Promise<RetainedRunPart[]> {
  const rs = await ch.client.query({
    query: `SELECT part,
                   any(trace_id) AS trace_id,
                   argMax(run, expires_at) AS run,
                   argMax(attachments, expires_at) AS attachments,
                   concat(replaceOne(toString(max(expires_at)), ' ', 'T'), 'Z') AS retained_until,
                   min(received_at) AS first_received
            FROM ${ch.table("runs_v1")}
            WHERE org_id = {org:String} AND workspace_id = {workspace:String} AND run_id = {run:String}
            GROUP BY part
            HAVING max(expires_at) > fromUnixTimestamp64Milli({now:Int64}, 'UTC')
            ORDER BY first_received, part`,
    query_params: { org: q.orgId, workspace: q.workspaceId, run: q.runId, now: q.nowMs },
    format: "JSONEachRow",
    query_id: queryId("runs.retained"),
  });
  return z.array(retainedRunPart.passthrough()).parse(await rs.json());
}

/** The upgrade id of a row's trace, as the upgrader derives it (`upgradeIdFor`). */
const UPGRADE_ID = `concat('upgrade-', lower(hex(SHA256(concat(org_id, '\\0', trace_id)))))`;
const COPY = (runs: string) => `INSERT INTO ${runs} (org_id, workspace_id, trace_id, run_id, part, trace_created_at, expires_at, run, attachments, received_at)
  SELECT org_id, workspace_id, trace_id, run_id, part, trace_created_at, trace_created_at + INTERVAL 400 DAY, run, attachments, received_at
  FROM ${runs}`;

/**
 * R1's upgrade for the window [fromMs, toMs) of the sink's writes: the runs of every trace
 * upgraded in the window (written before its end), and the runs written in the window of every
 * trace upgraded before it, get a copy expiring 400 days after the trace's creation, written by
 * ClickHouse itself (INSERT … SELECT). Windows that follow each other copy each run once:
 * whichever of a run and its trace's upgrade was written second, the window that holds it copies
 * the run, and only that window. A copy made twice (an upgrade delivered twice) has the same key
 * and version and replaces itself; the earlier row expires on its own.
 */
export async function keepUpgradedRunsExtended(ch: LedgerClickHouse, fromMs: number, toMs: number): Promise<void> {
  const runs = ch.table("runs_v1");
  const upgrades = ch.table("retention_upgrades_v1");
  const from = `fromUnixTimestamp64Milli({from:Int64}, 'UTC')`;
  const to = `fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
  const window = `ingested_at >= ${from} AND ingested_at < ${to}`;
  const params = { from: fromMs, to: toMs };
  await ch.client.command({
    query: `${COPY(runs)}
            WHERE expires_at < trace_created_at + INTERVAL 400 DAY AND ingested_at < ${to}
              AND (org_id, trace_id) IN (SELECT org_id, trace_id FROM ${upgrades} WHERE ${window})`,
    query_params: params,
    query_id: queryId("runs.extend.upgraded"),
  });
  await ch.client.command({
    query: `${COPY(runs)}
            WHERE ${window} AND expires_at < trace_created_at + INTERVAL 400 DAY
              AND (org_id, ${UPGRADE_ID}) IN (
                SELECT org_id, id FROM ${upgrades}
                WHERE ingested_at < ${from} AND (org_id, id) IN (SELECT org_id, ${UPGRADE_ID} FROM ${runs} WHERE ${window}))`,
    query_params: params,
    query_id: queryId("runs.extend.runs"),
  });
}

/** ClickHouse's clock (`now64(3)`, what `ingested_at` defaults to), in epoch milliseconds. */
export async function clickhouseNowMs(ch: LedgerClickHouse): Promise<number> {
  const rs = await ch.client.query({ query: "SELECT toUnixTimestamp64Milli(now64(3)) AS ms", format: "JSONEachRow", query_id: queryId("clickhouse.now") });
  const [row] = (await rs.json()) as { ms: string | number }[];
  return Number(row!.ms);
}

/**
 * Whether any run is stored at all: answered from the table's part metadata, without reading
 * rows. A ledger fed only through `POST /v1/events` has none, and its run retention passes can
 * skip the copies (each of which reads the upgrades of its window).
 */
export async function anyRunsStored(ch: LedgerClickHouse): Promise<boolean> {
  const rs = await ch.client.query({
    query: `SELECT count() AS n FROM ${ch.table("runs_v1")}`,
    format: "JSONEachRow",
    query_id: queryId("runs.any"),
  });
  const [row] = (await rs.json()) as { n: string | number }[];
  return Number(row?.n ?? 0) > 0;
}

/** Where a periodic pass of the sink got to (0: never ran). */
export async function checkpointOf(ch: LedgerClickHouse, name: string): Promise<number> {
  const rs = await ch.client.query({
    query: `SELECT toUnixTimestamp64Milli(argMax(done_to, at)) AS ms, count() AS n FROM ${ch.table("sink_checkpoints_v1")} WHERE name = {name:String}`,
    query_params: { name },
    format: "JSONEachRow",
    query_id: queryId("sink.checkpoint"),
  });
  const [row] = (await rs.json()) as { ms: string | number; n: string | number }[];
  return row && Number(row.n) > 0 ? Number(row.ms) : 0;
}

export async function saveCheckpoint(ch: LedgerClickHouse, name: string, doneToMs: number): Promise<void> {
  await ch.client.command({
    query: `INSERT INTO ${ch.table("sink_checkpoints_v1")} (name, done_to) SELECT {name:String}, fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
    query_params: { name, to: doneToMs },
    query_id: queryId("sink.checkpoint.save"),
  });
}
