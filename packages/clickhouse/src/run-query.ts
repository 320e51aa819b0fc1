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

/** Query parameters travel in the URL: ids are sent a thousand at a time. */
const CHUNK = 1_000;

/**
 * R1's upgrade: the rows of every trace among `traces` that has an upgrade get a copy expiring
 * 400 days after the trace's creation. Run after inserting upgrades (for their traces) and after
 * inserting runs (for theirs): each side writes, then reads the other, so whichever comes second
 * sees both (a run stored while its trace's upgrade was in flight is extended all the same).
 * Idempotent: a copy already there is not copied again (and would replace itself if it were).
 * First finds which of the traces have runs not yet kept 400 days, and copies only theirs.
 */
export async function extendUpgradedRuns(ch: LedgerClickHouse, traces: readonly { orgId: string; traceId: string; upgradeId: string }[]): Promise<void> {
  const runs = ch.table("runs_v1");
  for (let i = 0; i < traces.length; i += CHUNK) {
    const chunk = traces.slice(i, i + CHUNK);
    const candidates = await ch.client.query({
      query: `SELECT DISTINCT org_id, trace_id FROM ${runs}
              WHERE org_id IN {orgs:Array(String)} AND trace_id IN {traces:Array(String)}
                AND expires_at < trace_created_at + INTERVAL 400 DAY`,
      query_params: { orgs: [...new Set(chunk.map((t) => t.orgId))], traces: [...new Set(chunk.map((t) => t.traceId))] },
      format: "JSONEachRow",
      query_id: queryId("runs.extend.candidates"),
    });
    const found = new Set(((await candidates.json()) as { org_id: string; trace_id: string }[]).map((r) => `${r.org_id}\u0000${r.trace_id}`));
    const due = chunk.filter((t) => found.has(`${t.orgId}\u0000${t.traceId}`));
    if (due.length === 0) continue;
    await ch.client.command({
      query: `INSERT INTO ${runs} (org_id, workspace_id, trace_id, run_id, part, trace_created_at, expires_at, run, attachments, received_at)
              SELECT org_id, workspace_id, trace_id, run_id, part, trace_created_at, trace_created_at + INTERVAL 400 DAY, run, attachments, received_at
              FROM ${runs}
              WHERE org_id IN {orgs:Array(String)} AND trace_id IN {traces:Array(String)}
                AND expires_at < trace_created_at + INTERVAL 400 DAY
                AND (org_id, trace_id) IN (
                  SELECT org_id, trace_id FROM ${ch.table("retention_upgrades_v1")}
                  WHERE org_id IN {orgs:Array(String)} AND id IN {upgrades:Array(String)})
                AND (org_id, trace_id, run_id, part) NOT IN (
                  SELECT org_id, trace_id, run_id, part FROM ${runs}
                  WHERE org_id IN {orgs:Array(String)} AND trace_id IN {traces:Array(String)}
                    AND expires_at >= trace_created_at + INTERVAL 400 DAY)`,
      query_params: {
        orgs: [...new Set(due.map((t) => t.orgId))],
        traces: [...new Set(due.map((t) => t.traceId))],
        upgrades: [...new Set(due.map((t) => t.upgradeId))],
      },
      query_id: queryId("runs.extend"),
    });
  }
}

/** Which of `orgIds` have any run stored (organizations fed only by `POST /v1/events` have none). */
export async function orgsWithRuns(ch: LedgerClickHouse, orgIds: readonly string[]): Promise<string[]> {
  if (orgIds.length === 0) return [];
  const rs = await ch.client.query({
    query: `SELECT DISTINCT org_id FROM ${ch.table("runs_v1")} WHERE org_id IN {orgs:Array(String)}`,
    query_params: { orgs: [...new Set(orgIds)] },
    format: "JSONEachRow",
    query_id: queryId("runs.orgs"),
  });
  return ((await rs.json()) as { org_id: string }[]).map((r) => r.org_id);
}
