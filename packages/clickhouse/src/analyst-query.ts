import type { LedgerClickHouse } from "./client";

/** An analyst's query that ClickHouse refused or stopped (syntax, a write, a bound): theirs to change. */
export class AnalystQueryError extends Error {
  /** The analyst's to fix: answered 400 with the sentence. */
  readonly status = 400;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "AnalystQueryError";
  }
}

const FORMAT = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
/** A query's tag: how the ledger finds it among ClickHouse's running queries to stop it. */
export const ANALYST_TAG = /^[a-z0-9]{8,32}$/;
const MARK = "ledger.analyst:";

/**
 * ClickHouse's bounds on an analyst's session (see `openReadOnly`), by the error type it stops a
 * query with: which bound, and the setting that raises it.
 */
const BOUNDS: Record<string, string> = {
  TIMEOUT_EXCEEDED: "it ran longer than LEDGER_ANALYST_MAX_SECONDS allows (max_execution_time)",
  MEMORY_LIMIT_EXCEEDED: "it needed more memory than LEDGER_ANALYST_MAX_MEMORY_BYTES allows (max_memory_usage)",
  TOO_MANY_ROWS_OR_BYTES: "its result is larger than LEDGER_ANALYST_MAX_RESULT_BYTES allows (max_result_bytes)",
  QUERY_WAS_CANCELLED: "it was stopped: its client went away, or the ledger is stopping",
};

/**
 * `ledger sql`: an analyst's query against the ledger's own ClickHouse, answered in any of
 * ClickHouse's output formats. Read-only and bounded are ClickHouse's doing, not ours: the
 * session has its bounds (time, memory, result size) and then `readonly = 1`, which refuses every
 * write, DDL, table function (files, URLs) and any change of a setting, the bounds included. No
 * string matching. `tag` marks the query so that `stopAnalystQueries` can find it while it runs.
 */
export async function analystQuery(ch: LedgerClickHouse, query: string, format: string, tag: string): Promise<string> {
  if (!FORMAT.test(format)) throw new AnalystQueryError(`format ${JSON.stringify(format)} is not a ClickHouse output format name (letters and digits, e.g. PrettyCompact, CSV, JSONEachRow)`);
  if (!ANALYST_TAG.test(tag)) throw new AnalystQueryError(`tag ${JSON.stringify(tag)} must be 8–32 lower-case letters and digits`);
  if (query.trim() === "") throw new AnalystQueryError("the query is empty");
  const ro = await ch.openReadOnly();
  try {
    // A comment before the analyst's text: ClickHouse keeps it in system.processes' `query`.
    const rs = await ro.query({ query: `/* ${MARK}${tag} */\n${query}`, format: format as never });
    return await rs.text();
  } catch (error) {
    const type = (error as { type?: unknown }).type;
    const bound = typeof type === "string" ? BOUNDS[type] : undefined;
    const sentence = (error as Error).message.trim();
    if (bound) throw new AnalystQueryError(`ClickHouse stopped the query: ${bound}. ${sentence}`);
    // ClickHouse's own sentence ("Cannot execute query in readonly mode", "Unknown table …").
    throw new AnalystQueryError(`ClickHouse refused the query: ${sentence}`);
  } finally {
    await ro.close();
  }
}

/**
 * Stops the analysts' queries still running: the one tagged `tag` (its client went away), or
 * every one (the ledger is stopping). Asynchronously: each ends with QUERY_WAS_CANCELLED within
 * moments, and its caller answers.
 */
export async function stopAnalystQueries(ch: LedgerClickHouse, tag?: string): Promise<void> {
  if (tag !== undefined && !ANALYST_TAG.test(tag)) return;
  // The mark is a parameter: the KILL's own text holds none, so it cannot match itself.
  await ch.client.command({
    query: "KILL QUERY WHERE position(query, {mark:String}) > 0 ASYNC",
    query_params: { mark: `${MARK}${tag ?? ""}` },
  });
}
