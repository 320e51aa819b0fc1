/**
 * How deep arrays and objects may nest in any JSON the ledger reads (HTTP bodies, replay logs).
 * What it reads is serialized again (JSON.stringify recurses, and so does ClickHouse's JSON
 * reader), so a deeper text would fail there, after it was accepted; LangChain's deepest
 * serialized objects are a few dozen levels.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * Whether arrays and objects in `text` nest deeper than `limit` (strings skipped; the text need
 * not be valid JSON: JSON.parse judges that). Strings are skipped with indexOf, so the cost is
 * in the structure, not in the values' bytes.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  // Depth never exceeds the number of opening brackets, strings' included: a text with few is
  // passed on two native searches, without walking its structure (most texts, a run's parts).
  if (openersAtMost(text, limit)) return false;
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // To the closing quote: the next one not escaped by an odd run of backslashes.
      for (;;) {
        const close = text.indexOf('"', i + 1);
        if (close < 0) return false;
        let slashes = 0;
        while (text.charCodeAt(close - 1 - slashes) === 0x5c) slashes++;
        i = close;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** Whether `text` holds at most `limit` of `[` and `{` together (anywhere, strings included). */
function openersAtMost(text: string, limit: number): boolean {
  let count = 0;
  for (let i = text.indexOf("{"); i >= 0; i = text.indexOf("{", i + 1)) if (++count > limit) return false;
  for (let i = text.indexOf("["); i >= 0; i = text.indexOf("[", i + 1)) if (++count > limit) return false;
  return true;
}
