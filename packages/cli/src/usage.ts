import { z } from "zod";
import type { UsageRow } from "@ledger/billing";
import type { UpgradeAttribution } from "@ledger/clickhouse";
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

/** `ledger usage --by cause|rule|queue|feedback_key|project`: `GET /v1/usage/upgrades` (§4.1). */
export async function fetchUpgradeAttribution(url: string, key: string, params: { org: string; period: string; by: string }): Promise<UpgradeAttribution> {
  return callLedger<UpgradeAttribution>(url, key, "GET", `/v1/usage/upgrades?${new URLSearchParams(params)}`);
}

/** Largest first, each group's upgrades and cost, then the period's totals. */
export function upgradeAttributionText(a: UpgradeAttribution): string {
  const head = [a.by, "upgrades", "cost", "saved if off"];
  const rows = a.rows.map((r) => [r.group, String(r.upgrades), `$${r.cost_usd}`, r.saving_usd === null ? "" : `$${r.saving_usd}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [
    `Extended upgrades of ${a.org_id} in ${a.period} by ${a.by} ($${a.unit_price_usd} each)`,
    line(head),
    ...rows.map(line),
    `total: ${a.upgrades} upgrade(s), $${a.cost_usd}`,
    "",
  ].join("\n");
}
