#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from "commander";
import { connectClickHouse, EmbeddedClickHouseError, migrate } from "@ledger/clickhouse";
import { ConfigError, engineConfigFromEnv } from "@ledger/config";
import { startMockCluster } from "@ledger/kafka";
import { formatJsonLines, formatTable } from "./report";
import { readReplayInput, replay, ReplayInputError } from "./replay";
import { registerAlertCommands } from "./alerts";
import { period, registerExportCommand, registerInvoiceCommands, registerPriceCommands, registerWebhookCommands } from "./invoices";
import { invoiceJsonLines, invoiceText } from "@ledger/billing";
import { serve } from "./serve";
import { ROLES, run } from "./run";
import { fetchUpgradeAttribution, fetchUsage, upgradeAttributionText } from "./usage";
import { registerAccountCommands } from "./accounts";
import { registerAnalystCommands } from "./analyst";
import { LedgerRequestError } from "./admin-client";
import { CommandLineError } from "./command-line-error";
import { ingestReplica } from "./ingest-replica";
import { clientPlatformKey } from "./platform-key";
import { apiConfigFromEnv } from "@ledger/api";

const program = new Command("ledger")
  .description("The trace billing ledger: ingest → Kafka → upgrader → ClickHouse billing views")
  .showHelpAfterError();

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError("must be a port number 0–65535");
  return n;
};
const byOption = () => new Option("--by <level>", "group rows by org or by workspace").choices(["org", "workspace"]).default("org");

program
  .command("replay")
  .description("validate an NDJSON event log, push it through a fresh pipeline and print the usage report")
  .argument("<file>", "NDJSON file, or - for standard input")
  .option("--json", "one JSON object per line instead of a table")
  .addOption(byOption())
  .option("--quiet", "no progress output")
  .option("--verbose", "also the engines' start-up and shutdown lines")
  .option("--invoices", "print every organization's invoices (from its first period to the later of the log's last and the first open one) instead of the usage report")
  .action(async (file: string, opts: { json?: boolean; by: "org" | "workspace"; quiet?: boolean; verbose?: boolean; invoices?: boolean }) => {
    const events = readReplayInput(file);
    const result = await replay(events, { by: opts.by, progress: !opts.quiet, invoices: opts.invoices, verbose: opts.verbose });
    if (result.invoices) {
      process.stdout.write(result.invoices.map((doc) => (opts.json ? invoiceJsonLines(doc) : invoiceText(doc))).join(opts.json ? "" : "\n"));
      return;
    }
    process.stdout.write(opts.json ? formatJsonLines(result.usage) : formatTable(result.usage, opts.by === "workspace"));
  });

program
  .command("serve")
  .description("run every role (api, upgrader, sink, invoicer, sealer) in one process (embedded engines unless LEDGER_KAFKA_BROKERS / LEDGER_CLICKHOUSE_URL)")
  .option("--port <n>", "HTTP port (default LEDGER_PORT or 8080; 0 picks a free one)", port)
  .option("--host <host>", "HTTP host (default LEDGER_HOST or 127.0.0.1)")
  .action(async (opts: { port?: number; host?: string }) => serve(opts));

program
  .command("run")
  .description(`run the named roles (${ROLES.join(", ")}) against running engines (LEDGER_KAFKA_BROKERS, LEDGER_REDIS_URL, LEDGER_CLICKHOUSE_URL); any number of processes may run any role`)
  .argument("<roles...>", ROLES.join(", "))
  .option("--port <n>", "the api role's HTTP port (default LEDGER_PORT or 8080; 0 picks a free one)", port)
  .option("--host <host>", "HTTP host of the API or the ops listener (default LEDGER_HOST or 127.0.0.1)")
  .option("--ops-port <n>", "without the api role: the ops listener's port (default LEDGER_OPS_PORT or 9464)", port)
  .action(async (roles: string[], opts: { port?: number; host?: string; opsPort?: number }) => run(roles, opts));

program
  .command("ingest")
  .description("run one more ingest replica beside a running serve (shares its Kafka and Redis; reads ClickHouse through it)")
  .requiredOption("--primary <url>", "the running `ledger serve`")
  .option("--port <n>", "HTTP port (default LEDGER_PORT or 8080; 0 picks a free one)", port)
  .option("--host <host>", "HTTP host (default LEDGER_HOST or 127.0.0.1)")
  .action(async (opts: { primary: string; port?: number; host?: string }) => ingestReplica(opts));

registerAccountCommands(program);
registerAnalystCommands(program);
registerInvoiceCommands(program);
registerPriceCommands(program);
registerWebhookCommands(program);
registerAlertCommands(program);
registerExportCommand(program);

program
  .command("usage")
  .description("print the usage report of a running ledger (GET /v1/usage; LEDGER_API_KEY or the platform key)")
  .option("--org <id>", "one organization")
  .option("--from <YYYY-MM>", "first period", period)
  .option("--to <YYYY-MM>", "last period", period)
  .option("--json", "one JSON object per line instead of a table")
  .addOption(
    new Option("--by <grouping>", "rows per organization or workspace; or a period's extended upgrades by what caused them (cause, rule, queue, feedback_key, project; with --org and --period)")
      .choices(["org", "workspace", "cause", "rule", "queue", "feedback_key", "project"])
      .default("org"),
  )
  .option("--period <YYYY-MM>", "with an upgrades grouping: the period (default: the current one)", period)
  .option("--url <url>", "the ledger's base URL", process.env.LEDGER_URL ?? "http://127.0.0.1:8080")
  .action(async (opts: { org?: string; from?: string; to?: string; period?: string; json?: boolean; by: string; url: string }) => {
    const key = process.env.LEDGER_API_KEY || clientPlatformKey(apiConfigFromEnv().platformKey, engineConfigFromEnv());
    if (opts.by !== "org" && opts.by !== "workspace") {
      if (opts.org === undefined) throw new CommandLineError(`--by ${opts.by} reads one organization's upgrades: give --org`);
      const period = opts.period ?? new Date().toISOString().slice(0, 7);
      const a = await fetchUpgradeAttribution(opts.url, key, { org: opts.org, period, by: opts.by });
      process.stdout.write(opts.json ? a.rows.map((r) => `${JSON.stringify(r)}\n`).join("") : upgradeAttributionText(a));
      return;
    }
    const rows = await fetchUsage(opts.url, key, { org: opts.org, from: opts.from, to: opts.to, by: opts.by });
    process.stdout.write(opts.json ? formatJsonLines(rows) : formatTable(rows, opts.by === "workspace"));
  });

program
  .command("migrate")
  .description("apply the ClickHouse migrations in infra/clickhouse/ to the configured database")
  .action(async () => {
    const config = engineConfigFromEnv().clickhouse;
    const ch = await connectClickHouse(config).catch((error: Error) => {
      // chDB admits one process per data directory; the likely holder is a running serve.
      if (config.url) throw error;
      throw new CommandLineError(`cannot open the embedded ClickHouse in ${config.dataDir} (${error.message.trim()}); if \`ledger serve\` is running it holds that directory, and it applies the migrations itself when it starts`);
    });
    try {
      const applied = await migrate(ch, (line) => process.stderr.write(`${line}\n`));
      process.stdout.write(applied.length ? `applied ${applied.length} migration(s) to ${ch.database}\n` : `${ch.database} is up to date\n`);
    } finally {
      await ch.close();
    }
  });

program
  .command("broker")
  .description("run the embedded Kafka-protocol test cluster in the foreground and print its bootstrap servers")
  .option("--brokers <n>", "number of mock brokers", (v) => Number(v), 3)
  .action(async (opts: { brokers: number }) => {
    const cluster = await startMockCluster({ brokers: opts.brokers });
    process.stdout.write(`LEDGER_KAFKA_BROKERS=${cluster.brokers.join(",")}\n`);
    const stop = async () => {
      await cluster.stop();
      process.exit(0);
    };
    process.on("SIGINT", () => void stop());
    process.on("SIGTERM", () => void stop());
    setInterval(() => {}, 1 << 30);
  });

// A reader that stops early (`ledger invoice --sources | head`) is not an error of ours.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

program.parseAsync(process.argv).catch((error: Error) => {
  const known = error instanceof ReplayInputError || error instanceof ConfigError || error instanceof LedgerRequestError || error instanceof CommandLineError || error instanceof EmbeddedClickHouseError;
  // Sentences, not stacks: a stack only when asked for (LEDGER_DEBUG=1), for an error of the ledger's own.
  const detail = known || process.env.LEDGER_DEBUG !== "1" ? error.message : (error.stack ?? error.message);
  process.stderr.write(`ledger: ${detail}${known || process.env.LEDGER_DEBUG === "1" ? "" : " (LEDGER_DEBUG=1 shows where)"}\n`);
  // 2: the input or the request was refused; 1: the ledger could not do it (unreachable, 5xx, a bug).
  process.exit(known && !(error instanceof LedgerRequestError && error.retriable) ? 2 : 1);
});
