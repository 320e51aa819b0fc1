import { mkdtempSync, readdirSync, statSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { rollUpToOrg, usageRow } from "@ledger/billing";
import { runLedger, ROOT } from "../support/cli";
import { uniqueName } from "../support/engines";
import { waitFor } from "../support/wait";
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
    expect(lines[0]).toMatch(/^org_id\s+workspace_id\s+period\s+base_traces\s+extended_upgrades\s+base_at_list_usd\s+upgrades_at_list_usd$/);
    expect(lines).toContainEqual(expect.stringMatching(/^acme\s+prod\s+2024-06\s+4\s+1\s+0\.002\s+0\.0045$/));
    expect(lines.at(-2)).toMatch(/^total\s+7\s+6\s+0\.0035\s+0\.027$/);
    // List-price money says so (§4): the invoice is what is owed.
    expect(lines.at(-1)).toBe("(money at list price: $0.0005 a base trace, $0.0045 an upgrade, before the free allotment, contract prices and credits; ledger invoice shows what is owed)");
    expect(r.stderr).toMatch(/publishing|billing/); // progress output
  });

  test("a bad line: non-zero exit, the line number, field and reason; nothing published, no report", async () => {
    const lines = readFileSync(SAMPLE, "utf8").trim().split("\n");
    lines[4] = lines[4]!.replace('"rule_id":"rule-1"', '"rule_id":"rule 1"');
    lines[6] = "{not json";
    const r = await runLedger(["replay", "-", "--json"], { input: lines.join("\n") });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    // Every line's problem at once: the line that is not JSON and the event that breaks a rule.
    expect(r.stderr).toMatch(/line 5 \(id "e-5"\): rule_id may contain only[\s\S]*line 7: \(line\) is not valid JSON/);
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
    let out = "";
    await waitFor("ledger usage to show the sample's bill", async () => {
      const r = await runLedger(["usage", "--json", "--url", serve.url], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
      expect(r.code).toBe(0);
      out = r.stdout;
      return out === expected;
    }, 60_000, 250).catch(() => {});
    expect(out).toBe(expected);
    const filtered = await runLedger(["usage", "--json", "--url", serve.url, "--org", "globex", "--from", "2024-07", "--to", "2024-07"], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
    expect(filtered.stdout).toBe(`${JSON.stringify(usageRow({ org_id: "globex", period: "2024-07" }, 1, 2))}\n`);
    // What upgraded acme's June traces, as serve's upgrader recorded it: t-3's feedback came after
    // t-3 expired, so turning rule-1 off would have saved its upgrade (§4.1).
    const causes = await runLedger(["usage", "--json", "--url", serve.url, "--org", "acme", "--period", "2024-06", "--by", "cause"], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
    expect(causes.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { group: "extended creation", upgrades: 1, cost_usd: "0.0045", sole_upgrades: null, saving_usd: null },
      { group: "rule:rule-1", upgrades: 1, cost_usd: "0.0045", sole_upgrades: 1, saving_usd: "0.0045" },
    ]);
    const bad = await runLedger(["usage", "--url", serve.url, "--from", "July"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/YYYY-MM/);

    // The status line counts what the ingest thread accepted and what the consumers did.
    const statusBy = Date.now() + 20_000;
    while (!/status: accepted 16 events, 6 upgrades, 1 rejections, consumer lag 0/.test(serve.output()) && Date.now() < statusBy) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(serve.output()).toMatch(/status: accepted 16 events, 6 upgrades, 1 rejections, consumer lag 0/);

    // A rule matching globex's t-1 after queue q-1 upgraded it, within its 14 days: an alternative,
    // so turning q-1 off would have saved only t-2's upgrade in July.
    const rule = { id: "e-5", type: "rule-matched", occurred_at: "2024-07-03T00:00:00Z", org_id: "globex", workspace_id: "eu", trace_id: "t-1", run_id: "r-1", rule_id: "rule-9" };
    expect((await fetch(`${serve.url}/v1/events`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY }, body: JSON.stringify([rule]) })).status).toBe(202);
    let queue: unknown;
    await waitFor("the alternative to reach the attribution", async () => {
      const r = await runLedger(["usage", "--json", "--url", serve.url, "--org", "globex", "--period", "2024-07", "--by", "queue"], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
      queue = JSON.parse(r.stdout.trim().split("\n")[0] ?? "null");
      return (queue as { sole_upgrades?: number } | null)?.sole_upgrades === 1;
    }, 30_000, 250).catch(() => {});
    expect(queue).toEqual({ group: "q-1", upgrades: 2, cost_usd: "0.009", sole_upgrades: 1, saving_usd: "0.0045" });

    serve.child.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    expect(serve.output()).toMatch(/SIGTERM: stopping intake, draining consumers, flushing, closing[\s\S]*stopped/);
  });

  test("usage without a running ledger says so", async () => {
    const r = await runLedger(["usage", "--url", "http://127.0.0.1:9"], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot reach the ledger at http:\/\/127\.0\.0\.1:9/);
  });

  test("migrate applies the numbered SQL files once", async () => {
    const env = { LEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), "ledger-migrate-")), LEDGER_CLICKHOUSE_DATABASE: uniqueName("mig") };
    const first = await runLedger(["migrate"], { env });
    expect(first.code).toBe(0);
    // Every numbered file of infra/clickhouse, counted rather than written down, so a new migration needs no edit here.
    const migrations = readdirSync(join(ROOT, "infra", "clickhouse")).filter((f) => /^\d{4}_.*\.sql$/.test(f)).length;
    expect(migrations).toBeGreaterThanOrEqual(5);
    expect(first.stdout).toMatch(new RegExp(`applied ${migrations} migration\\(s\\)`));
    const second = await runLedger(["migrate"], { env });
    expect(second.stdout).toMatch(/is up to date/);
  });

  test("a bad configuration value names the variable", async () => {
    const r = await runLedger(["migrate"], { env: { LEDGER_CLICKHOUSE_DATABASE: "bad-name" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/LEDGER_CLICKHOUSE_DATABASE: must be a plain identifier/);
  });
});

describe("accounts, keys and limits from the command line", () => {
  test("serve generates the platform key once (0600); orgs, workspaces, projects, keys and limits use it", async () => {
    const env = freshServeEnv(uniqueName("acct"));
    delete (env as Record<string, string>).LEDGER_PLATFORM_KEY;
    const serve = await startServe({ ...env, LEDGER_PLATFORM_KEY: "" });
    serves.push(serve);
    const generated = /generated the platform key \(kept in (\S+), mode 0600; shown only now\):\n(\S+)/.exec(serve.output());
    expect(generated).not.toBeNull();
    expect(statSync(generated![1]!).mode & 0o777).toBe(0o600);
    const cli = (args: string[]) => runLedger([...args, "--url", serve.url], { env: { ...env, LEDGER_PLATFORM_KEY: "" } });

    const org = await cli(["orgs", "set", "acme", "--plan", "enterprise", "--payment-method", "--events-per-hour", "100", "--seat-price", "39.00", "--json"]);
    expect(org.code).toBe(0);
    expect(JSON.parse(org.stdout)).toMatchObject({ type: "org-configured", org_id: "acme", plan: "enterprise", payment_method: true, events_per_hour: 100, seat_price_usd: "39.00" });
    const badOrg = await cli(["orgs", "set", "acme", "--plan", "plus", "--events-per-hour", "5"]);
    expect(badOrg.code).toBe(2);
    expect(badOrg.stderr).toMatch(/events_per_hour is configured only on the enterprise plan/);
    expect(await cli(["workspaces", "set", "acme", "prod", "--all-traces-limit", "2", "--extended-traces-limit", "none"])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/all_traces_limit=2 extended_traces_limit=none default_retention=base/),
    });
    expect((await cli(["workspaces", "set", "acme", "prod", "--all-traces-limit", "two"])).stderr).toMatch(/must be a whole number/);
    expect((await cli(["projects", "set", "acme", "prod", "chat", "--default-retention", "extended"])).code).toBe(0);
    // Credits through serve's API thread: granted, and their balance read back through the contract.
    expect((await cli(["credits", "grant", "--org", "acme", "--amount", "25", "--reason", "welcome", "--grant-id", "w-1"])).stdout).toBe("acme: granted w-1 $25\n");
    const credits = JSON.parse((await cli(["credits", "list", "--org", "acme", "--json"])).stdout);
    expect(credits).toMatchObject({ org_id: "acme", granted_usd: "25.00", remaining_usd: "25.00", grants: [{ grant_id: "w-1", reason: "welcome" }] });

    const personal = await cli(["keys", "create", "--org", "acme", "--workspace", "prod"]);
    expect(personal.code).toBe(2);
    expect(personal.stderr).toMatch(/a personal key needs --user <id>/);
    const created = JSON.parse((await cli(["keys", "create", "--org", "acme", "--workspace", "prod", "--user", "u1", "--json"])).stdout);
    expect(created).toEqual({ key_id: expect.stringMatching(/^key-/), key: expect.stringMatching(/^lsv2_pt_.{32,}/) });
    const service = JSON.parse((await cli(["keys", "create", "--org", "acme", "--workspace", "prod", "--service", "--json"])).stdout);
    expect(service.key).toMatch(/^lsv2_sk_/);
    const listed = (await cli(["keys", "list", "--org", "acme", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(listed.map((k) => Object.keys(k))).toEqual([
      ["key_id", "org_id", "workspace_id", "kind", "created_at", "revoked"],
      ["key_id", "org_id", "workspace_id", "kind", "created_at", "revoked"],
    ]);
    expect(JSON.stringify(listed)).not.toContain(created.key);

    const post = (key: string, trace: string) =>
      fetch(`${serve.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": key },
        body: JSON.stringify([{ id: `c-${trace}`, type: "trace-created", occurred_at: new Date().toISOString(), org_id: "acme", workspace_id: "prod", trace_id: trace, project_id: "chat", retention: "extended" }]),
      });
    // This test runs on the real clock: a clock hour may end between the posts and the reading.
    const hourOf = () => Math.floor(Date.now() / 3_600_000);
    const postedInHour = hourOf();
    expect((await post(created.key, "t1")).status).toBe(202);
    expect((await post(created.key, "t2")).status).toBe(202);
    expect((await post(created.key, "t3")).status).toBe(429);

    const limits = (await cli(["limits", "--org", "acme", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l));
    const readInHour = hourOf();
    const hourly = limits.find((l) => l.limit === "plan:events_per_hour");
    expect(hourly).toMatchObject({ limit_value: 100 });
    if (readInHour === postedInHour) expect(hourly.current).toBe(2);
    else expect(hourly.current).toBeLessThan(2); // the posts' hour is over; this one counts what came after it
    expect(limits.find((l) => l.limit === "workspace:all_traces")).toMatchObject({ workspace_id: "prod", limit_value: 2, current: 2, resets_at: expect.stringMatching(/-01T00:00:00.000Z$/) });
    expect(limits.filter((l) => l.limit === "rate:other").map((l) => l.key_id).sort()).toEqual([created.key_id, service.key_id].sort());
    expect((await cli(["limits", "--org", "acme"])).stdout).toMatch(/workspace:all_traces\s+workspace prod\s+2\s+2/);

    expect((await cli(["keys", "revoke", created.key_id])).stdout).toBe(`${created.key_id}: revoked\n`);
    expect((await post(created.key, "t4")).status).toBe(401);
  });

  test("replay takes account events and is not limited", async () => {
    const at = "2024-06-10T00:00:00Z";
    const lines = [
      { id: "o1", type: "org-configured", occurred_at: at, org_id: "tiny", plan: "developer", payment_method: false },
      { id: "w1", type: "workspace-configured", occurred_at: at, org_id: "tiny", workspace_id: "prod", all_traces_limit: 1, extended_traces_limit: 0, default_retention: "base" },
      ...[1, 2, 3].map((i) => ({ id: `c${i}`, type: "trace-created", occurred_at: at, org_id: "tiny", workspace_id: "prod", trace_id: `t${i}`, project_id: "p", retention: "extended" })),
    ];
    const r = await runLedger(["replay", "-", "--json", "--quiet"], { input: lines.map((l) => JSON.stringify(l)).join("\n") });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${JSON.stringify(usageRow({ org_id: "tiny", period: "2024-06" }, 3, 3))}\n`);
    const bad = await runLedger(["replay", "-", "--quiet"], { input: JSON.stringify({ ...lines[1], all_traces_limit: "many" }) });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line 1 \(id "w1"\): all_traces_limit must be a whole number or null/);
  });
});
