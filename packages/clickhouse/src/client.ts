import { mkdirSync } from "node:fs";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import type { ClickHouseConfig } from "@ledger/config";

/** A ClickHouse client and the database every ledger table lives in. */
export interface LedgerClickHouse {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly engine: "chdb" | "server";
  /** The cluster `ledger migrate` creates the tables on (LEDGER_CLICKHOUSE_CLUSTER), if any. */
  readonly cluster: string | undefined;
  /** `database.table`, the only way tables are named: chDB ignores the client's database. */
  table(name: string): string;
  /**
   * A new connection that can only read (`readonly = 1` for its whole session), for one analyst
   * query; the caller closes it. A session of its own, because the chDB connection turns
   * per-query settings into `SET` statements that would stay on the ledger's session, and a
   * fresh one per query, because chDB keeps a multi-statement query's unread results for the
   * session's next query.
   */
  openReadOnly(): Promise<ClickHouseClient>;
  /**
   * Inserts rows given as JSONEachRow lines (text, or UTF-8 bytes such as Kafka messages' own),
   * with `settings`. On chDB the bytes reach the engine as they are (its raw insert): no string
   * of the whole insert is built, flattened and encoded again in JavaScript, which cost the
   * sink's thread more than its own work. On a server the lines
   * are the body of the statement, as before.
   */
  insertJsonLines(table: string, lines: readonly (string | Uint8Array)[], settings: InsertSettings): Promise<void>;
  close(): Promise<void>;
}

/** Settings of one insert: names of ClickHouse settings, fixed by the ledger's code. */
export type InsertSettings = Record<string, string | number>;

/** What the ledger uses of chDB's connection beyond the client's contract. */
interface ChdbRawInsert {
  chdb: { rawInsert(params: { table: string; values: Buffer; format: "JSONEachRow"; settings: InsertSettings }): Promise<unknown> };
}

const NEWLINE_BYTE = 0x0a;

/**
 * The lines as one buffer, each followed by a newline; runs of text lines are encoded at once.
 * Byte lines that follow each other in one buffer with a newline between them (the lines of one
 * Kafka message, as the sink hands them on) are copied as one span: a LangSmith batch's insert
 * has tens of thousands of lines, and a copy per line is work the consumers' thread cannot spare.
 */
export function jsonLinesBytes(lines: readonly (string | Uint8Array)[]): Buffer {
  const parts: Uint8Array[] = [];
  let text: string[] = [];
  // Byte lines so far, contiguous in one buffer (`whole`, all of it): [from, to).
  let whole: Uint8Array | null = null;
  let from = 0;
  let to = 0;
  const flushText = () => {
    if (text.length === 0) return;
    parts.push(Buffer.from(`${text.join("\n")}\n`));
    text = [];
  };
  const flushSpan = () => {
    if (whole === null) return;
    // Not the byte after the span, even where it is a newline: it may be free memory of Node's
    // buffer pool, which the next Buffer.from(text) below writes (a property test found it).
    parts.push(whole.subarray(from, to), NEWLINE);
    whole = null;
  };
  for (const line of lines) {
    if (typeof line === "string") {
      flushSpan();
      text.push(line);
      continue;
    }
    flushText();
    // Only a newline between them: the same bytes as the two lines with their newlines (a byte
    // between two lines' memory, which nothing writes before the copy at the end).
    if (whole !== null && line.buffer === whole.buffer && line.byteOffset === to + 1 && whole[to] === NEWLINE_BYTE) {
      to = line.byteOffset + line.byteLength;
      continue;
    }
    flushSpan();
    whole = new Uint8Array(line.buffer, 0, line.buffer.byteLength);
    from = line.byteOffset;
    to = line.byteOffset + line.byteLength;
  }
  flushText();
  flushSpan();
  return Buffer.concat(parts);
}
const NEWLINE = Buffer.from("\n");

const settingsSql = (settings: InsertSettings) =>
  Object.entries(settings)
    .map(([k, v]) => `${k} = ${typeof v === "number" ? v : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`}`)
    .join(", ");

export class ClickHouseUnavailableError extends Error {
  readonly retriable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClickHouseUnavailableError";
  }
}

/**
 * chDB in-process when no URL is configured, a ClickHouse server otherwise; both through the
 * official client, so every query runs unchanged on either. One chDB data directory per process.
 */
/** The embedded ClickHouse could not open its data directory (most often: another process holds it). */
export class EmbeddedClickHouseError extends Error {
  readonly retriable = false;
  constructor(dataDir: string, cause: Error) {
    super(
      `cannot open the embedded ClickHouse in ${dataDir} (${cause.message.trim()}); a chDB data directory belongs to one process: ` +
        "run every role that uses ClickHouse in the process that holds it, or name a ClickHouse server with LEDGER_CLICKHOUSE_URL",
      { cause },
    );
    this.name = "EmbeddedClickHouseError";
  }
}

export async function connectClickHouse(config: ClickHouseConfig): Promise<LedgerClickHouse> {
  let client: ClickHouseClient;
  let engine: "chdb" | "server";
  let chdb: ChdbRawInsert | null = null;
  if (config.url) {
    client = createClient({
      url: config.url,
      username: config.user,
      password: config.password,
      request_timeout: 60_000,
      clickhouse_settings: { wait_end_of_query: 1 },
    });
    engine = "server";
  } else {
    mkdirSync(config.dataDir, { recursive: true });
    const { createChdbConnection } = await import("chdb/connection");
    let connection: ReturnType<typeof createChdbConnection>;
    try {
      connection = createChdbConnection({ path: config.dataDir });
    } catch (error) {
      throw new EmbeddedClickHouseError(config.dataDir, error as Error);
    }
    client = createClient({ connection } as never);
    chdb = connection as unknown as ChdbRawInsert;
    engine = "chdb";
  }
  const database = config.database;
  // An analyst's session: its bounds, then readonly = 1, which forbids changing any of them.
  const { maxSeconds, maxMemoryBytes, maxResultBytes } = config.analyst;
  const bounds = { max_execution_time: maxSeconds, max_memory_usage: String(maxMemoryBytes), max_result_bytes: String(maxResultBytes), result_overflow_mode: "throw" } as const;
  const openReadOnly = async (): Promise<ClickHouseClient> => {
    if (config.url) {
      // On a server every request carries the bounds with readonly = 1 (checked against the
      // user's own readonly, then applied together). A read-only user with a settings profile is
      // the stronger choice in production (docs/analysts.md). Response compression off: the
      // client would ask for it with a setting, which readonly = 1 refuses to change. (Not run
      // here: no ClickHouse server on this machine.)
      return createClient({ url: config.url, username: config.user, password: config.password, database, request_timeout: (maxSeconds + 30) * 1000, compression: { response: false }, clickhouse_settings: { ...bounds, readonly: "1" } });
    }
    const { createChdbConnection } = await import("chdb/connection");
    const ro = createClient({ connection: createChdbConnection({ path: config.dataDir }) } as never) as ClickHouseClient;
    await ro.command({ query: `SET max_execution_time = ${maxSeconds}, max_memory_usage = ${maxMemoryBytes}, max_result_bytes = ${maxResultBytes}, result_overflow_mode = 'throw'` });
    // The ledger's database is the analyst's default: `billing_usage_v1` needs no prefix.
    await ro.command({ query: `USE \`${database.replaceAll("`", "``")}\`` });
    await ro.command({ query: "SET readonly = 1" });
    return ro;
  };
  return {
    client,
    database,
    engine,
    cluster: config.cluster,
    table: (name) => `${database}.${name}`,
    openReadOnly,
    insertJsonLines: async (table, lines, settings) => {
      const bytes = jsonLinesBytes(lines);
      if (chdb) await chdb.chdb.rawInsert({ table: `${database}.${table}`, values: bytes, format: "JSONEachRow", settings });
      else await client.command({ query: `INSERT INTO ${database}.${table} SETTINGS ${settingsSql(settings)} FORMAT JSONEachRow\n${bytes.toString("utf8")}` });
    },
    close: () => client.close(),
  };
}

/** An instant (epoch ms) as a DateTime64(3, 'UTC') value in JSONEachRow inserts. */
export const dateTime64 = (ms: number): string => new Date(ms).toISOString().replace("T", " ").replace("Z", "");
