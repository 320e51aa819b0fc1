import type { Command } from "commander";
import { engineConfigFromEnv } from "@ledger/config";
import { apiConfigFromEnv } from "@ledger/api";
import { callLedger } from "./admin-client";
import { clientPlatformKey } from "./platform-key";

/**
 * `ledger sql "<query>"`: an analyst's query against a running ledger's ClickHouse (the embedded
 * chDB belongs to the `serve` process, so it goes through the admin API with the platform key).
 * Read-only by ClickHouse's own `readonly` setting: a write comes back as ClickHouse's refusal.
 */
export function registerAnalystCommands(program: Command): void {
  program
    .command("sql")
    .description("run a read-only query against a running ledger's ClickHouse (tables are <database>.<table>, e.g. ledger.billing_usage_v1)")
    .argument("<query>", "the SQL text (a SELECT, SHOW, DESCRIBE or EXPLAIN)")
    .option("--format <format>", "any ClickHouse output format (CSV, TSVWithNames, JSONEachRow, Markdown, …)", "PrettyCompactMonoBlock")
    .option("--url <url>", "the ledger's base URL", process.env.LEDGER_URL ?? "http://127.0.0.1:8080")
    .action(async (query: string, o: { format: string; url: string }) => {
      const key = clientPlatformKey(apiConfigFromEnv().platformKey, engineConfigFromEnv());
      const r = await callLedger<{ output: string }>(o.url, key, "POST", "/v1/admin/sql", { query, format: o.format });
      process.stdout.write(r.output);
    });
}
