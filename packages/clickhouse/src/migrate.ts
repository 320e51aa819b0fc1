import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { LedgerClickHouse } from "./client";
import { onCluster } from "./cluster-ddl";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../infra/clickhouse/", import.meta.url));

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Numbered plain SQL files, `NNNN_name.sql`; `{{database}}` stands for the ledger's database. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file,
      statements: splitStatements(readFileSync(`${dir}/${file}`, "utf8")),
    }));
}

export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split("\n")
    .filter((line) => !line.trim().startsWith("--"))
    .join("\n");
  return withoutComments
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The database and the record of applied migrations, created before any migration runs. */
export const bookkeeping = (db: string) => [
  `CREATE DATABASE IF NOT EXISTS ${db}`,
  `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations_v1 (version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version`,
];

/** Applies the migrations not yet recorded in `schema_migrations_v1`, in order. */
export async function migrate(ch: LedgerClickHouse, log: (line: string) => void = () => {}): Promise<number[]> {
  const db = ch.database;
  const ddl = (statement: string) => (ch.cluster ? onCluster(statement, ch.cluster) : statement);
  for (const statement of bookkeeping(db)) await ch.client.command({ query: ddl(statement) });
  const rs = await ch.client.query({ query: `SELECT version FROM ${db}.schema_migrations_v1`, format: "JSONEachRow" });
  const done = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of loadMigrations()) {
    if (done.has(m.version)) continue;
    for (const statement of m.statements) {
      await ch.client.command({ query: ddl(statement.replaceAll("{{database}}", db)) });
    }
    await ch.client.insert({
      table: `${db}.schema_migrations_v1`,
      values: [{ version: m.version, name: m.name }],
      format: "JSONEachRow",
    });
    log(`applied ${m.name} to ${db}`);
    applied.push(m.version);
  }
  return applied;
}
