import type { LedgerClickHouse } from "./client";

/** An analyst's query that ClickHouse refused (syntax, a write, an unknown table…): their mistake. */
export class AnalystQueryError extends Error {
  /** The analyst's to fix: answered 400 with ClickHouse's sentence. */
  readonly status = 400;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "AnalystQueryError";
  }
}

const FORMAT = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

/**
 * `ledger sql`: an analyst's query against the ledger's own ClickHouse, answered in any of
 * ClickHouse's output formats. Read-only is ClickHouse's doing, not ours: the query runs on a
 * connection whose session is `readonly = 1`, which refuses every write, DDL, table function
 * (files, URLs) and any attempt to change a setting, `readonly` included. No string matching.
 */
export async function analystQuery(ch: LedgerClickHouse, query: string, format: string): Promise<string> {
  if (!FORMAT.test(format)) throw new AnalystQueryError(`format ${JSON.stringify(format)} is not a ClickHouse output format name (letters and digits, e.g. PrettyCompact, CSV, JSONEachRow)`);
  if (query.trim() === "") throw new AnalystQueryError("the query is empty");
  const ro = await ch.openReadOnly();
  try {
    const rs = await ro.query({ query, format: format as never });
    return await rs.text();
  } catch (error) {
    // ClickHouse's own sentence ("Cannot execute query in readonly mode", "Unknown table …").
    throw new AnalystQueryError(`ClickHouse refused the query: ${(error as Error).message.trim()}`);
  } finally {
    await ro.close();
  }
}
