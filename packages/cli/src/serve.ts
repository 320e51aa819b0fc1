import { LedgerStack } from "@ledger/stack";
import { configFromEnv } from "./engines-from-env";
import { resolveServeKey } from "./platform-key";
import { stopOnSignal } from "./lifecycle";

/** Every role in one process, on the embedded engines unless configured otherwise. */
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

  stopOnSignal(stack, log, () => clearInterval(status));
}
