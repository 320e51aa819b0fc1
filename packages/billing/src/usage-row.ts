import { chargesFor, formatUsd } from "./pricing";

/** One line of a usage report: (org[, workspace], period) with its two metrics and charges. */
export interface UsageRow {
  org_id: string;
  workspace_id?: string;
  period: string;
  base_traces: number;
  extended_upgrades: number;
  base_charge_usd: string;
  upgrade_charge_usd: string;
}

/** Byte-wise ordering of key tuples, so reports sort the same on every machine and locale. */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export function usageRow(
  key: { org_id: string; workspace_id?: string; period: string },
  baseTraces: number,
  extendedUpgrades: number,
): UsageRow {
  const charges = chargesFor(baseTraces, extendedUpgrades);
  return {
    ...key,
    base_traces: baseTraces,
    extended_upgrades: extendedUpgrades,
    base_charge_usd: formatUsd(charges.baseChargeMicros),
    upgrade_charge_usd: formatUsd(charges.upgradeChargeMicros),
  };
}

/** Sums workspace rows per (org, period): how an invoice reads them (spec §4). */
export function rollUpToOrg(rows: readonly UsageRow[]): UsageRow[] {
  const sums = new Map<string, { org_id: string; period: string; base: number; upgrades: number }>();
  for (const r of rows) {
    const k = `${r.org_id}\u0000${r.period}`;
    const s = sums.get(k) ?? { org_id: r.org_id, period: r.period, base: 0, upgrades: 0 };
    s.base += r.base_traces;
    s.upgrades += r.extended_upgrades;
    sums.set(k, s);
  }
  return sortUsage([...sums.values()].map((s) => usageRow({ org_id: s.org_id, period: s.period }, s.base, s.upgrades)));
}

export function sortUsage(rows: UsageRow[]): UsageRow[] {
  return rows.sort((a, b) =>
    compareKeys([a.org_id, a.workspace_id ?? "", a.period], [b.org_id, b.workspace_id ?? "", b.period]),
  );
}
