import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { runLedger, ROOT } from "../support/cli";
import { uniqueName } from "../support/engines";
import { freshServeEnv, startServe, type ServeProcess } from "../support/serve-process";
import { waitFor } from "../support/wait";

// The README's quick start, run as written: its block of shell after "To run a ledger and send it
// events", against a `ledger serve` of its own (a fresh data directory and port instead of
// 8080; the block's first line, which starts serve, is this test's startServe).
let serve: ServeProcess | undefined;
afterAll(async () => {
  serve?.child.kill("SIGTERM");
  await serve?.exited;
});

/** The README's quick-start block, its lines joined as the shell reads them. */
function quickStart(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /To run a ledger and send it events:\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no quick-start block after 'To run a ledger and send it events:'");
  return block.trimEnd().split("\n");
}

const bash = (script: string, env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });

test("the README's quick start runs end to end: this month's traces and upgrade are billed", async () => {
  const [first, ...rest] = quickStart();
  expect(first).toMatch(/^pnpm ledger serve &/);
  const env = freshServeEnv(uniqueName("quickstart"));
  serve = await startServe(env);
  const script = rest.join("\n").replaceAll("http://127.0.0.1:8080", serve.url);
  const run = await bash(script, { ...env, LEDGER_URL: serve.url });
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('{"accepted":4}');

  const month = new Date().toISOString().slice(0, 7);
  await waitFor("the quick start's traces in this month's usage", async () => {
    const usage = await runLedger(["usage", "--org", "acme", "--json", "--url", serve!.url], { env });
    const rows = usage.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { period: string; base_traces: number; extended_upgrades: number });
    return rows.some((r) => r.period === month && r.base_traces === 3 && r.extended_upgrades === 1);
  });
}, 180_000);
