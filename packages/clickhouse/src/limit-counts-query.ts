import { z } from "zod";
import type { LedgerClickHouse } from "./client";

/** What a limit counter counts (mirrors `SeedQuery` of @ledger/limits; kept structural here). */
export interface CounterSource {
  count: "events" | "traces" | "upgrades";
  orgId: string;
  workspaceId?: string;
  fromMs: number;
  toMs: number;
}

/**
 * Named query `limits.members`: the distinct members a limit counter holds, from the ledger's
 * own tables, by the ledger's clock at arrival (`received_at`): event ids of an hour, trace ids
 * created in a month, trace ids upgraded in a month. Used to rebuild a counter when Redis
 * started empty, and to count while Redis is away.
 */
export async function counterMembers(ch: LedgerClickHouse, source: CounterSource): Promise<string[]> {
  const where = ["org_id = {org:String}", "received_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')", "received_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')"];
  if (source.workspaceId !== undefined) where.push("workspace_id = {workspace:String}");
  let column = "trace_id";
  let table = "trace_events_v1";
  if (source.count === "events") column = "id";
  else if (source.count === "traces") where.push("type = 'trace-created'");
  else table = "retention_upgrades_v1";
  const rs = await ch.client.query({
    query: `SELECT DISTINCT ${column} AS member FROM ${ch.table(table)} WHERE ${where.join(" AND ")}`,
    query_params: { org: source.orgId, workspace: source.workspaceId, from: source.fromMs, to: source.toMs },
    format: "JSONCompactEachRow",
    query_id: `limits.members.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`,
  });
  return z.array(z.tuple([z.string()])).parse(await rs.json()).map(([m]) => m);
}
