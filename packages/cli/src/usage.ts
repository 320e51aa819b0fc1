import { z } from "zod";
import type { UsageRow } from "@ledger/billing";
import { callLedger } from "./admin-client";

const usageResponse = z.object({
  rows: z.array(
    z.object({
      org_id: z.string(),
      workspace_id: z.string().optional(),
      period: z.string(),
      base_traces: z.number(),
      extended_upgrades: z.number(),
      base_charge_usd: z.string(),
      upgrade_charge_usd: z.string(),
    }),
  ),
});

/**
 * Reads the report of a running stack through `GET /v1/usage` (its database is that process's),
 * with LEDGER_API_KEY (a key of the organization asked about) or the platform key.
 */
export async function fetchUsage(
  url: string,
  key: string,
  params: { org?: string; from?: string; to?: string; by: "org" | "workspace" },
): Promise<UsageRow[]> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
  return usageResponse.parse(await callLedger(url, key, "GET", `/v1/usage?${query}`)).rows;
}
