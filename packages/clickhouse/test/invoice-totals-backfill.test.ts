import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { amountDueMicros } from "@ledger/billing";
import { engineConfigFromEnv } from "@ledger/config";
import { connectClickHouse, type LedgerClickHouse } from "../src/client";
import { loadMigrations, migrate } from "../src/migrate";

// Migration 0013 gives invoices frozen before it their totals with SQL's rounding; from then on
// the invoicer stores them with amountDueMicros. Both must give every invoice the same amount due.
let ch: LedgerClickHouse;
beforeAll(async () => {
  ch = await connectClickHouse({ ...engineConfigFromEnv({}).clickhouse, dataDir: mkdtempSync(join(tmpdir(), "ledger-totals-")), database: "totals" });
  await migrate(ch);
});
afterAll(async () => {
  await ch?.close();
});

test("the backfill's amount due equals the invoicer's for any invoice's lines", async () => {
  const backfill = loadMigrations().find((m) => m.name.startsWith("0013_"))!.statements.find((s) => s.includes("INSERT INTO"))!.replaceAll("{{database}}", ch.database);
  const line = fc.bigInt({ min: -50_000_000n, max: 500_000_000n });
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(line, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 20 }), async (invoices) => {
      await ch.client.command({ query: `TRUNCATE TABLE ${ch.table("invoice_lines_v1")}` });
      await ch.client.command({ query: `TRUNCATE TABLE ${ch.table("invoice_totals_v1")}` });
      const values = invoices.flatMap((amounts, i) =>
        amounts.map((a, n) => ({ org_id: `o${i}`, period: "2024-06", line_no: n + 1, kind: "base_traces", usage_period: "2024-06", quantity: 1, free_quantity: 0, unit_price_micros: "0", amount_micros: a.toString() })),
      );
      await ch.client.insert({ table: ch.table("invoice_lines_v1"), values, format: "JSONEachRow" });
      await ch.client.command({ query: backfill });
      const rs = await ch.client.query({ query: `SELECT org_id, toString(total_micros) AS total, toString(amount_due_micros) AS due FROM ${ch.table("invoice_totals_v1")} FINAL ORDER BY toUInt32(substring(org_id, 2))`, format: "JSONEachRow" });
      const stored = (await rs.json()) as { org_id: string; total: string; due: string }[];
      expect(stored).toEqual(
        invoices.map((amounts, i) => {
          const total = amounts.reduce((t, a) => t + a, 0n);
          return { org_id: `o${i}`, total: total.toString(), due: amountDueMicros(total).toString() };
        }),
      );
    }),
    { numRuns: 25 },
  );
});
