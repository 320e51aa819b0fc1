import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { rollUpToOrg, usageRow } from "@ledger/billing";
import { runLedger, ROOT } from "../support/cli";
import { uniqueName } from "../support/engines";
import { referenceTuples } from "../support/pipeline";
import { freshServeEnv, startServe, type ServeProcess, SERVE_PLATFORM_KEY } from "../support/serve-process";

const SAMPLE = join(ROOT, "test/fixtures/sample-month-boundary.ndjson");
const sampleEvents = () => readFileSync(SAMPLE, "utf8").trim().split("\n").map((l) => JSON.parse(l) as object);

/** The report the reference ledger expects for a log, per org, as `--json` prints it. */
function expectedJsonLines(events: object[]): string {
  const rows = referenceTuples(events).map(([org_id, workspace_id, period, base, upgrades]) => usageRow({ org_id, workspace_id, period }, base, upgrades));
  return rollUpToOrg(rows).map((r) => JSON.stringify(r)).join("\n") + "\n";
}

const serves: ServeProcess[] = [];
afterAll(() => {
  for (const s of serves) s.child.kill("SIGKILL");
});

describe("ledger replay", () => {
  test("the bundled sample: the report per org equals the reference ledger's", async () => {
    const r = await runLedger(["replay", SAMPLE, "--json", "--quiet"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expectedJsonLines(sampleEvents()));
  });

  test("reads standard input; --by workspace prints a table with a total", async () => {
    const r = await runLedger(["replay", "-", "--by", "workspace"], { input: readFileSync(SAMPLE, "utf8") });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^org_id\s+workspace_id\s+period\s+base_traces\s+extended_upgrades\s+base_charge_usd\s+upgrade_charge_usd$/);
    expect(lines).toContainEqual(expect.stringMatching(/^acme\s+prod\s+2024-06\s+4\s+1\s+0\.002\s+0\.0045$/));
    expect(lines.at(-1)).toMatch(/^total\s+7\s+6\s+0\.0035\s+0\.027$/);
    expect(r.stderr).toMatch(/publishing|billing/); // progress output
  });

  test("a bad line: non-zero exit, the line number, field and reason; nothing published, no report", async () => {
    const lines = readFileSync(SAMPLE, "utf8").trim().split("\n");
    lines[4] = lines[4]!.replace('"rule_id":"rule-1"', '"rule_id":"rule 1"');
    lines[6] = "{not json";
    const r = await runLedger(["replay", "-", "--json"], { input: lines.join("\n") });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/line 7: \(line\) is not valid JSON/);
    const again = await runLedger(["replay", "-"], { input: [lines[0], lines[4]].join("\n") });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/line 2 \(id "e-5"\): rule_id may contain only A-Z a-z 0-9 \. _ : -/);
    expect(again.stderr).toMatch(/nothing was published/);
    expect(again.stderr).not.toMatch(/kafka:|publishing/); // refused before any engine started
  });

  test("a missing file is a clear error", async () => {
    const r = await runLedger(["replay", "/nonexistent.ndjson"]);
    expect(r.code).not.toBe(0);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ledger: cannot read \/nonexistent.ndjson: ENOENT: no such file/);
  });
});

describe("ledger serve, usage and migrate", () => {
  test("serve prints its URL, ingests, usage reads the report over HTTP, SIGTERM stops in order", async () => {
    const serve = await startServe(freshServeEnv(uniqueName("cli")));
    serves.push(serve);
    const res = await fetch(`${serve.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", "x-api-key": SERVE_PLATFORM_KEY },
      body: readFileSync(SAMPLE, "utf8"),
    });
    expect(res.status).toBe(202);
    const expected = expectedJsonLines(sampleEvents());
    const deadline = Date.now() + 60_000;
    let out = "";
    while (Date.now() < deadline) {
      const r = await runLedger(["usage", "--json", "--url", serve.url], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
      expect(r.code).toBe(0);
      out = r.stdout;
      if (out === expected) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(out).toBe(expected);
    const filtered = await runLedger(["usage", "--json", "--url", serve.url, "--org", "globex", "--from", "2024-07", "--to", "2024-07"], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
    expect(filtered.stdout).toBe(`${JSON.stringify(usageRow({ org_id: "globex", period: "2024-07" }, 1, 2))}\n`);
    const bad = await runLedger(["usage", "--url", serve.url, "--from", "July"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/YYYY-MM/);

    // The status line counts what the ingest thread accepted and what the consumers did.
    const statusBy = Date.now() + 20_000;
    while (!/status: accepted 16 events, 6 upgrades, 1 rejections, consumer lag 0/.test(serve.output()) && Date.now() < statusBy) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(serve.output()).toMatch(/status: accepted 16 events, 6 upgrades, 1 rejections, consumer lag 0/);

    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    expect(serve.output()).toMatch(/SIGTERM: stopping intake, draining consumers, flushing, closing[\s\S]*stopped/);
  });

  test("usage without a running ledger says so", async () => {
    const r = await runLedger(["usage", "--url", "http://127.0.0.1:9"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot reach the ledger at http:\/\/127\.0\.0\.1:9/);
  });

  test("migrate applies the numbered SQL files once", async () => {
    const env = { LEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), "ledger-migrate-")), LEDGER_CLICKHOUSE_DATABASE: uniqueName("mig") };
    const first = await runLedger(["migrate"], { env });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied 3 migration\(s\)/);
    const second = await runLedger(["migrate"], { env });
    expect(second.stdout).toMatch(/is up to date/);
  });

  test("a bad configuration value names the variable", async () => {
    const r = await runLedger(["migrate"], { env: { LEDGER_CLICKHOUSE_DATABASE: "bad-name" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/LEDGER_CLICKHOUSE_DATABASE: must be a plain identifier/);
  });
});
