/** A refusal or failure of a running ledger, said as the ledger said it. */
export class LedgerRequestError extends Error {
  readonly retriable: boolean;
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "LedgerRequestError";
    this.retriable = status === 0 || status >= 500;
  }
}

/** Calls a running ledger's API with a key (the admin commands use the platform key). */
export async function callLedger<T>(url: string, key: string, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, url), {
      method,
      headers: { "x-api-key": key, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    throw new LedgerRequestError(`cannot reach the ledger at ${url} (is \`pnpm ledger serve\` running?): ${String((error as Error).cause ?? (error as Error).message)}`, 0);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { error: text };
  }
  if (!response.ok) throw new LedgerRequestError(`the ledger answered ${response.status}: ${(json as { error?: string }).error ?? "no detail"}`, response.status);
  return json as T;
}
