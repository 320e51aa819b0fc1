import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { waitFor } from "../../../test/support/wait";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

test("the embedded redis-server dies with the process that started it, even on SIGKILL", async () => {
  // A process that starts the embedded Redis, says its pid, and waits to be killed.
  const parent = spawn(process.execPath, ["--import", "tsx", "-e", `import { startRedisServer } from "@ledger/redis"; const r = await startRedisServer(); console.log(r.pid); setInterval(() => {}, 1_000);`], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = "";
    parent.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (/^\d+\n/.test(out)) resolve(Number(out.trim()));
    });
    parent.once("exit", (code) => reject(new Error(`the parent exited (${code}) before starting Redis`)));
  });
  expect(existsSync(`/proc/${pid}`)).toBe(true);
  parent.kill("SIGKILL");
  // Gone, or a zombie nobody has reaped yet: either way no longer running.
  await waitFor("redis-server to die with its parent", () => !/State:\s+[^Z]/.test(statusOf(pid)), 10_000);
});

function statusOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return "";
  }
}
