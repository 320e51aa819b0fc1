/**
 * A migration's statement as it runs on a ClickHouse cluster (`LEDGER_CLICKHOUSE_CLUSTER`): every
 * DDL statement `ON CLUSTER`, so each replica gets every table, materialized view and
 * (parameterized) view, and every MergeTree family engine replicated, so any replica answers any
 * read. Replicas of a table share a ZooKeeper/Keeper path made of the shard, database and table
 * macros; the ledger runs one replica set (one shard): organizations are not split across shards.
 * An `INSERT` (a backfill) is left as it is: run on one replica, it reaches the others by
 * replication.
 */
export function onCluster(statement: string, cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) throw new Error(`cluster ${JSON.stringify(cluster)} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`);
  const ddl = DDL_HEADS.find((head) => head.test(statement));
  if (!ddl) {
    if (/^\s*INSERT\b/i.test(statement)) return statement;
    throw new Error(`a migration statement the cluster form does not know: ${statement.slice(0, 80)}`);
  }
  return statement.replace(ddl, (head: string) => `${head} ON CLUSTER \`${cluster}\``).replace(ENGINE, replicated);
}

const CLUSTER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The head of each DDL statement the migrations use, up to and including the object's name. */
const DDL_HEADS = [
  /^\s*CREATE DATABASE IF NOT EXISTS [A-Za-z0-9_.`]+/i,
  /^\s*CREATE (?:TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS [A-Za-z0-9_.`]+/i,
  /^\s*DROP (?:TABLE|VIEW) IF EXISTS [A-Za-z0-9_.`]+/i,
  /^\s*ALTER TABLE [A-Za-z0-9_.`]+/i,
];

/** A MergeTree family engine and its own arguments (a version column, say). */
const ENGINE = /\bENGINE\s*=\s*(Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing|)MergeTree\b(?:\s*\(([^)]*)\))?/i;

function replicated(_engine: string, family: string, args: string | undefined): string {
  const own = args?.trim() ? `, ${args.trim()}` : "";
  return `ENGINE = Replicated${family}MergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'${own})`;
}
