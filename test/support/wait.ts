/**
 * Polls `check` until it returns a value other than undefined or false, and resolves with it;
 * past `timeoutMs` it throws, naming what was awaited. The one way tests wait for something the
 * ledger does asynchronously: a condition with a deadline, never a sleep that guesses.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
