import type { LedgerClickHouse } from "./client";

export type ExportDataset = "invoice_lines" | "usage";
export type ExportFormat = "CSVWithNames" | "Parquet";

/**
 * Named query `export.period`: a closed period's final invoice lines (each with its invoice's
 * exact total, credits and amount due) or its usage per (organization, workspace), written by ClickHouse
 * in one of its own formats. Money as exact Decimal(18, 6) dollars. The caller checks that the
 * period is final.
 */
export async function exportPeriod(ch: LedgerClickHouse, period: string, dataset: ExportDataset, format: ExportFormat): Promise<Buffer> {
  const usd = (micros: string) => `toDecimal64(${micros}, 6) / 1000000`;
  const query =
    dataset === "invoice_lines"
      ? `SELECT l.org_id AS org_id, l.period AS period, line_no, 'closed' AS status, kind, usage_period, adjusts, user_id, at, quantity, free_quantity,
                ${usd("unit_price_micros")} AS unit_price_usd, ${usd("amount_micros")} AS amount_usd,
                ${usd("t.total_micros")} AS invoice_total_usd, ${usd("t.credits_micros")} AS credits_usd, ${usd("t.amount_due_micros")} AS amount_due_usd
         FROM ${ch.table("invoice_lines_v1")} AS l FINAL
         LEFT JOIN (SELECT org_id, period, total_micros, credits_micros, amount_due_micros FROM ${ch.table("invoice_totals_v1")} FINAL WHERE period = {period:String}) AS t
           ON l.org_id = t.org_id AND l.period = t.period
         WHERE l.period = {period:String} ORDER BY org_id, line_no`
      : `SELECT org_id, workspace_id, period, base_traces, extended_upgrades,
                ${usd("base_charge_micros")} AS base_charge_usd, ${usd("upgrade_charge_micros")} AS upgrade_charge_usd
         FROM ${ch.table("billing_usage_v1")} WHERE period = {period:String} ORDER BY org_id, workspace_id`;
  const rs = await ch.client.exec({ query: `${query} FORMAT ${format}`, query_params: { period } });
  const chunks: Buffer[] = [];
  for await (const chunk of rs.stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
