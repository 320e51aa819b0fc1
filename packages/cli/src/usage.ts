import { z } from "zod";
import type { UsageRow } from "@ledger/billing";

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

/** Reads the report of a running stack through `GET /v1/usage`: its database is that process's. */
export async function fetchUsage(
  url: string,
  params: { org?: string; from?: string; to?: string; by: "org" | "workspace" },
): Promise<UsageRow[]> {
  const target = new URL("/v1/usage", url);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
  let response: Response;
  try {
    response = await fetch(target);
  } catch (error) {
    throw new Error(`cannot reach the ledger at ${url} (is \`pnpm ledger serve\` running?): ${(error as Error).cause ?? (error as Error).message}`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`the ledger answered ${response.status}: ${(body as { error?: string }).error ?? "no detail"}`);
  return usageResponse.parse(body).rows;
}
