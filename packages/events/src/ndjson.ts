import { MAX_JSON_DEPTH, nestsDeeperThan } from "./json-depth";
import { InvalidBatchError, type BatchProblem } from "./validation";

/**
 * Splits NDJSON into parsed values, remembering each value's 1-based line number. Blank lines
 * are skipped; a line that is not JSON, or nests deeper than MAX_JSON_DEPTH, is a problem of that line.
 */
export function parseNdjson(text: string): { values: unknown[]; lines: number[] } {
  const { values, lines, problems } = readNdjson(text);
  if (problems.length > 0) throw new InvalidBatchError(problems);
  return { values, lines };
}

/** The same reading, every line's problem returned beside the lines that are JSON (a log checked whole). */
export function readNdjson(text: string): { values: unknown[]; lines: number[]; problems: BatchProblem[] } {
  const values: unknown[] = [];
  const lines: number[] = [];
  const problems: BatchProblem[] = [];
  const rows = text.split("\n");
  rows.forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    if (nestsDeeperThan(line, MAX_JSON_DEPTH)) {
      problems.push({ line: i + 1, field: "(line)", reason: `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels, the most the ledger reads` });
      return;
    }
    try {
      values.push(JSON.parse(line));
      lines.push(i + 1);
    } catch (error) {
      problems.push({ line: i + 1, field: "(line)", reason: `is not valid JSON (${(error as Error).message})` });
    }
  });
  return { values, lines, problems };
}
