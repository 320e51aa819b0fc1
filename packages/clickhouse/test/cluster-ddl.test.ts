import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { engineConfigFromEnv } from "@ledger/config";
import { connectClickHouse, type LedgerClickHouse } from "../src/client";
import { onCluster } from "../src/cluster-ddl";
import { bookkeeping, loadMigrations } from "../src/migrate";

// With LEDGER_CLICKHOUSE_CLUSTER every statement `ledger migrate` runs is its cluster form. No
// cluster runs here: ClickHouse's own parser (chDB's formatQuery, which parses what it cannot
// run) checks every generated statement, and that the cluster form differs from today's in
// nothing but ON CLUSTER and the replicated engine.
let ch: LedgerClickHouse;
beforeAll(async () => {
  ch = await connectClickHouse({ ...engineConfigFromEnv({}).clickhouse, dataDir: mkdtempSync(join(tmpdir(), "ledger-cluster-ddl-")) });
});
afterAll(async () => {
  await ch?.close();
});

/** The statement as ClickHouse's parser reads it, one line (a syntax error throws). */
async function parsed(statement: string): Promise<string> {
  const rs = await ch.client.query({ query: "SELECT formatQuerySingleLine({q:String}) AS f", query_params: { q: statement }, format: "JSONEachRow" });
  return (await rs.json<{ f: string }>())[0]!.f;
}

const statements = () => [...bookkeeping("ledger"), ...loadMigrations().flatMap((m) => m.statements.map((s) => s.replaceAll("{{database}}", "ledger")))];

test("every statement of every migration, on a cluster: parsed by ClickHouse, ON CLUSTER, replicated, otherwise unchanged", async () => {
  const all = statements();
  expect(all.length).toBeGreaterThan(60);
  let tables = 0;
  for (const statement of all) {
    const today = await parsed(statement);
    const clustered = await parsed(onCluster(statement, "ledger_cluster"));
    if (/^INSERT/.test(today)) {
      expect(clustered, today).toBe(today);
      continue;
    }
    expect(clustered, today).toContain(" ON CLUSTER ledger_cluster");
    const engine = /ENGINE = (\w+)/.exec(clustered)?.[1];
    if (/^CREATE TABLE/.test(today)) {
      tables++;
      expect(engine, today).toMatch(/^Replicated\w*MergeTree$/);
      expect(clustered).toContain("MergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'");
    } else {
      expect(engine, today).toBeUndefined();
    }
    // Everything else is today's statement.
    const back = clustered
      .replace(" ON CLUSTER ledger_cluster", "")
      .replace(/Replicated(\w*)MergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}'(?:, )?/, "$1MergeTree(")
      .replace(/MergeTree\(\)/, "MergeTree");
    expect(back).toBe(today.replace(/MergeTree\(\)/, "MergeTree"));
  }
  expect(tables).toBeGreaterThanOrEqual(15);
});

test("an engine's own arguments stay after the replication path (the version column of ReplacingMergeTree)", async () => {
  const runs = statements().find((s) => /CREATE TABLE IF NOT EXISTS ledger\.runs_v1\b/.test(s))!;
  expect(await parsed(onCluster(runs, "c1"))).toMatch(/ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}', expires_at\)/);
});

test("a statement the cluster form does not know, or a cluster name that is not an identifier, is refused", () => {
  expect(() => onCluster("RENAME TABLE ledger.a TO ledger.b", "c1")).toThrow(/does not know: RENAME TABLE/);
  expect(() => onCluster("CREATE DATABASE IF NOT EXISTS ledger", "c1; DROP")).toThrow(/must be a plain identifier/);
  expect(() => engineConfigFromEnv({ LEDGER_CLICKHOUSE_CLUSTER: "two words", LEDGER_CLICKHOUSE_URL: "http://ch:8123" })).toThrow(/LEDGER_CLICKHOUSE_CLUSTER: must be a plain identifier/);
  expect(() => engineConfigFromEnv({ LEDGER_CLICKHOUSE_CLUSTER: "ledger_cluster" })).toThrow(/LEDGER_CLICKHOUSE_CLUSTER: needs LEDGER_CLICKHOUSE_URL/);
  expect(engineConfigFromEnv({ LEDGER_CLICKHOUSE_CLUSTER: "ledger_cluster", LEDGER_CLICKHOUSE_URL: "http://ch:8123" }).clickhouse.cluster).toBe("ledger_cluster");
});
