import { z } from "zod";
import type { TraceState } from "@ledger/billing";
import { dateTime64, type LedgerClickHouse } from "./client";

const stateRow = z.object({
  org_id: z.string(),
  trace_id: z.string(),
  workspace_id: z.string(),
  created_at: z.string().nullable(),
  retention: z.string(),
  upgraded_at: z.string().nullable(),
  project_id: z.string(),
  cause_source: z.string(),
  alternative: z.coerce.number(),
});

export interface KeyedTraceState {
  orgId: string;
  traceId: string;
  state: TraceState;
  /** The trace-events partition that owns the trace, and the topic's partition count then. */
  partition: number;
  partitionCount: number;
}

// DateTime64 comes back as "YYYY-MM-DD hh:mm:ss.mmm" in UTC.
const toMs = (v: string | null) => (v === null ? null : Date.parse(`${v.replace(" ", "T")}Z`));
const toDb = (ms: number | null) => (ms === null ? null : dateTime64(ms));

/**
 * Named query `upgrader.load_state`: the newest state of each (org, trace) asked for. FINAL
 * makes it right before background merges; unknown traces are simply absent.
 */
export async function loadTraceStates(
  ch: LedgerClickHouse,
  keys: { orgId: string; traceId: string }[],
): Promise<Map<string, TraceState>> {
  const out = new Map<string, TraceState>();
  if (keys.length === 0) return out;
  const orgs = [...new Set(keys.map((k) => k.orgId))];
  const traces = [...new Set(keys.map((k) => k.traceId))];
  const rs = await ch.client.query({
    query: `SELECT org_id, trace_id, workspace_id, created_at, retention, upgraded_at, project_id, cause_source, alternative
            FROM ${ch.table("upgrader_trace_state_v1")} FINAL
            WHERE org_id IN {orgs:Array(String)} AND trace_id IN {traces:Array(String)}`,
    query_params: { orgs, traces },
    format: "JSONEachRow",
  });
  for (const r of z.array(stateRow).parse(await rs.json())) out.set(stateKey(r.org_id, r.trace_id), stateOf(r));
  return out;
}

function stateOf(r: z.output<typeof stateRow>): TraceState {
  return {
    workspaceId: r.workspace_id,
    createdAtMs: toMs(r.created_at),
    retention: r.retention === "base" || r.retention === "extended" ? r.retention : null,
    upgradedAtMs: toMs(r.upgraded_at),
    projectId: r.project_id,
    cause: r.cause_source,
    alternative: r.alternative === 1,
  };
}

/**
 * Named queries `upgrader.partition_census` and `upgrader.load_partition`: every stored state
 * of one partition, or null when that cannot be the whole truth for it: some state was written
 * under another partition count (keys have moved between partitions), or the partition holds
 * more traces than `limit`. With the whole truth in memory, a trace missing from it is unknown
 * and no per-batch lookup is needed.
 */
export async function loadPartitionStates(
  ch: LedgerClickHouse,
  partition: number,
  partitionCount: number,
  limit: number,
): Promise<Map<string, TraceState> | null> {
  const census = await ch.client.query({
    query: `SELECT countIf(partition_count != {n:UInt32}) AS foreign, countIf(kafka_partition = {p:UInt32}) AS mine
            FROM ${ch.table("upgrader_trace_state_v1")}`,
    query_params: { n: partitionCount, p: partition },
    format: "JSONEachRow",
  });
  const [counts] = z.array(z.object({ foreign: z.coerce.number(), mine: z.coerce.number() })).parse(await census.json());
  if (!counts || counts.foreign > 0 || counts.mine > limit) return null;
  const rs = await ch.client.query({
    query: `SELECT org_id, trace_id, workspace_id, created_at, retention, upgraded_at, project_id, cause_source, alternative
            FROM ${ch.table("upgrader_trace_state_v1")} FINAL
            WHERE kafka_partition = {p:UInt32}`,
    query_params: { p: partition },
    format: "JSONEachRow",
  });
  const out = new Map<string, TraceState>();
  for (const r of z.array(stateRow).parse(await rs.json())) out.set(stateKey(r.org_id, r.trace_id), stateOf(r));
  return out;
}

/** Writes changed states; returns once ClickHouse has them, before offsets are committed. */
export async function saveTraceStates(ch: LedgerClickHouse, states: KeyedTraceState[]): Promise<void> {
  if (states.length === 0) return;
  await ch.client.insert({
    table: ch.table("upgrader_trace_state_v1"),
    format: "JSONEachRow",
    values: states.map(({ orgId, traceId, state, partition, partitionCount }) => ({
      org_id: orgId,
      trace_id: traceId,
      workspace_id: state.workspaceId,
      created_at: toDb(state.createdAtMs),
      retention: state.retention ?? "",
      upgraded_at: toDb(state.upgradedAtMs),
      project_id: state.projectId,
      cause_source: state.cause,
      alternative: state.alternative ? 1 : 0,
      // Facts only grow, so the row with the most is the newest (ReplacingMergeTree(facts)).
      facts: (state.createdAtMs === null ? 0 : 1) + (state.upgradedAtMs === null ? 0 : 1) + (state.alternative ? 1 : 0),
      kafka_partition: partition,
      partition_count: partitionCount,
    })),
  });
}

export function stateKey(orgId: string, traceId: string): string {
  return `${orgId}/${traceId}`;
}
