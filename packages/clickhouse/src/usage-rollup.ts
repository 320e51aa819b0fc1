import { z } from "zod";
import type { LedgerClickHouse } from "./client";

/**
 * Hours (org, workspace, UTC hour) whose rows are not all in their latest seal: never sealed, or
 * touched since. With `quietBefore`, only those quiet since then (an hour still receiving rows is
 * left to be counted raw).
 */
export const unsealedHoursSql = (ch: LedgerClickHouse, quiet = true) => `
  SELECT t.org_id AS org_id, t.workspace_id AS workspace_id, t.hour AS hour
  FROM (SELECT org_id, workspace_id, hour, max(touched_at) AS touched_at FROM ${ch.table("trace_hour_touches_v1")} GROUP BY org_id, workspace_id, hour) AS t
  LEFT JOIN (SELECT org_id, workspace_id, hour, max(sealed_at) AS sealed_at FROM ${ch.table("trace_hour_seals_v1")} GROUP BY org_id, workspace_id, hour) AS s
  USING (org_id, workspace_id, hour)
  WHERE s.sealed_at < t.touched_at ${quiet ? "AND t.touched_at <= fromUnixTimestamp64Milli({quietBefore:Int64}, 'UTC')" : ""}`;

/** How many (org, workspace, hour) are counted from their rows right now. */
export async function unsealedHours(ch: LedgerClickHouse): Promise<number> {
  const rs = await ch.client.query({ query: `SELECT count() AS n FROM (${unsealedHoursSql(ch, false)})`, format: "JSONEachRow" });
  return z.array(z.object({ n: z.coerce.number() })).parse(await rs.json())[0]?.n ?? 0;
}

export interface SealRound {
  /** Hours sealed by this step. */
  sealed: number;
  /** Quiet hours still waiting to be sealed after it (beyond the step's limit). */
  remaining: number;
}

/**
 * Seals up to `limit` quiet unsealed hours: counts each hour's distinct traces per metric and
 * first booking from its rows, and writes them with `sealedAtMs`. The caller passes a seal time
 * before the round started by more than an insert takes (see the sealer): a row inserted while
 * the round runs is newer than the seal, so its day is counted raw until the next round.
 */
export async function sealQuietHours(ch: LedgerClickHouse, o: { quietBeforeMs: number; sealedAtMs: number; limit: number }): Promise<SealRound> {
  const params = { quietBefore: o.quietBeforeMs, sealedAt: o.sealedAtMs, limit: o.limit };
  const count = async () => {
    const rs = await ch.client.query({ query: `SELECT count() AS n FROM (${unsealedHoursSql(ch)})`, query_params: params, format: "JSONEachRow" });
    return z.array(z.object({ n: z.coerce.number() })).parse(await rs.json())[0]?.n ?? 0;
  };
  const before = await count();
  if (before === 0) return { sealed: 0, remaining: 0 };
  await ch.client.command({
    // Per hour: traces by (metric, first booking) for the bill, and by (metric, project, cause)
    // for attribution and costs (§4.1, §4.3), each trace with its greatest recorded project and
    // cause (a backfilled row's over the empty one of an older row).
    query: `INSERT INTO ${ch.table("trace_hour_seals_v1")} (org_id, hour, workspace_id, counts, breakdown, sealed_at)
            SELECT org_id, hour, workspace_id, arrayMap((k, v) -> (k.1, k.2, v), by_first.1, by_first.2), arrayMap((k, v) -> (k.1, k.2, k.3, v), by_cell.1, by_cell.2),
                   fromUnixTimestamp64Milli({sealedAt:Int64}, 'UTC')
            FROM (SELECT org_id, hour, workspace_id, sumMap([(toString(metric), toString(first))], [n]) AS by_first, sumMap([(toString(metric), project, cause)], [n]) AS by_cell
                  FROM (SELECT org_id, hour, workspace_id, metric, first, project, cause, count() AS n
                        FROM (SELECT org_id, hour, workspace_id, metric, trace_id, min(booked_period) AS first, max(project_id) AS project, max(cause_source) AS cause
                              FROM ${ch.table("trace_hours_v1")}
                              WHERE (org_id, workspace_id, hour) IN (SELECT org_id, workspace_id, hour FROM (${unsealedHoursSql(ch)}) ORDER BY org_id, hour, workspace_id LIMIT {limit:UInt32})
                              GROUP BY org_id, hour, workspace_id, metric, trace_id)
                        GROUP BY org_id, hour, workspace_id, metric, first, project, cause)
                  GROUP BY org_id, hour, workspace_id)`,
    query_params: params,
  });
  const remaining = await count();
  return { sealed: Math.max(0, before - remaining), remaining };
}

/**
 * `daily_booked_counts_v1(org, from, to)` as a FROM clause with its arguments as query parameters
 * (`bc_org`, `bc_from`, `bc_to`): the one place the readers (usage, daily series, invoices) take
 * their trace counts from. Without an organization, every organization's.
 */
export function bookedCountsFrom(ch: LedgerClickHouse, scope: { org?: string; fromDay?: string; toDay?: string }): { from: string; params: Record<string, string> } {
  return {
    from: `${ch.table("daily_booked_counts_v1")}(org = {bc_org:String}, from = {bc_from:Date32}, to = {bc_to:Date32})`,
    params: { bc_org: scope.org ?? "", bc_from: scope.fromDay ?? "1970-01-01", bc_to: scope.toDay ?? "2199-12-31" },
  };
}
