import { chargesFor, formatUsd, type UsageRow } from "@ledger/billing";

/** `--json`: one object per line with the spec's field names. */
export function formatJsonLines(rows: readonly UsageRow[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
}

/** What the usage report's money is, and is not: said under every table (§4). */
export const LIST_PRICE_NOTE = "(money at list price: $0.0005 a base trace, $0.0045 an upgrade, before the free allotment, contract prices and credits; ledger invoice shows what is owed)";

/** A readable table with a total line; numbers right-aligned. */
export function formatTable(rows: readonly UsageRow[], byWorkspace: boolean): string {
  const head = ["org_id", ...(byWorkspace ? ["workspace_id"] : []), "period", "base_traces", "extended_upgrades", "base_at_list_usd", "upgrades_at_list_usd"];
  const body = rows.map((r) => [
    r.org_id,
    ...(byWorkspace ? [r.workspace_id ?? ""] : []),
    r.period,
    String(r.base_traces),
    String(r.extended_upgrades),
    r.base_charge_usd,
    r.upgrade_charge_usd,
  ]);
  const base = rows.reduce((s, r) => s + r.base_traces, 0);
  const upgrades = rows.reduce((s, r) => s + r.extended_upgrades, 0);
  const charges = chargesFor(base, upgrades);
  const total = ["total", ...(byWorkspace ? [""] : []), "", String(base), String(upgrades), formatUsd(charges.baseChargeMicros), formatUsd(charges.upgradeChargeMicros)];
  const numeric = (i: number) => i >= head.length - 4;
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length), total[i]!.length));
  const line = (cells: string[]) => cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  if (rows.length === 0) return "no billable usage\n";
  return [line(head), rule, ...body.map(line), rule, line(total), LIST_PRICE_NOTE].join("\n") + "\n";
}
