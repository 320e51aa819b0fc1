import { LedgerStack } from "@ledger/stack";
import { configFromEnv } from "./engines-from-env";
import { resolveServeKey } from "./platform-key";

/**
 * All services in one process. SIGINT/SIGTERM stop intake, drain the consumers (each finishes
 * and commits its batch), flush the producer and close the engines; a second signal exits at once.
 */
export async function serve(options: { port?: number; host?: string }): Promise<void> {
  const config = configFromEnv();
  const ingest = { ...config.ingest, ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host ? { host: options.host } : {}) };
  const log = (line: string) => process.stderr.write(`ledger: ${line}\n`);
  const platformKey = resolveServeKey(config.ingest.platformKey, config.engines, (key, file) => {
    // Printed once, when generated; the admin commands read it from the file.
    process.stdout.write(`ledger: generated the platform key (kept in ${file}, mode 0600; shown only now):\n${key}\n`);
  });
  const stack = await LedgerStack.start({ engines: config.engines, upgrader: config.upgrader, sink: config.sink, invoicer: config.invoicer, sealer: config.sealer, ingest, ingestThread: true, platformKey, log });
  process.stdout.write(`ledger: listening on ${stack.url}\n`);

  let last = "";
  // Read through /metrics: with the ingest API on its own thread, that is where all counters meet.
  const status = setInterval(async () => {
    try {
      const text = await (await fetch(`${stack.url}/metrics`)).text();
      const sum = (name: string) =>
        [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, "gm"))].reduce((s, m) => s + Number(m[1]), 0);
      const line = `status: accepted ${sum("ledger_events_accepted_total")} events, ${sum("ledger_upgrades_emitted_total")} upgrades, ${sum("ledger_trigger_rejections_total")} rejections, consumer lag ${sum("ledger_consumer_lag")}`;
      if (line !== last) log(line);
      last = line;
    } catch {
      /* a status line is best effort; shutdown may be under way */
    }
  }, 5_000);
  status.unref();

  let stoppingSince: number | null = null;
  const shutdown = async (reason: string, code: number) => {
    if (stoppingSince !== null) {
      // Ctrl-C under `pnpm ledger` reaches serve twice (the terminal's process group, and pnpm
      // forwarding it): only a signal sent after the first one is a request to stop at once.
      if (Date.now() - stoppingSince < 1_000) return;
      log(`${reason} again: exiting now`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    clearInterval(status);
    log(`${reason}: stopping intake, draining consumers, flushing, closing`);
    try {
      await stack.stop();
      log("stopped");
    } catch (error) {
      log(`stop failed: ${(error as Error).message}`);
      code = 1;
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown("SIGINT", 0));
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  stack.onFatal((error) => void shutdown(`fatal error (${error.message})`, 1));
}
