import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { invoiceJsonLines, invoiceText, isPeriodKey, type InvoiceDocument } from "@ledger/billing";
import { engineConfigFromEnv } from "@ledger/config";
import { ingestConfigFromEnv } from "@ledger/ingest";
import { callLedger } from "./admin-client";
import { clientPlatformKey } from "./platform-key";

const period = (value: string) => {
  if (!isPeriodKey(value)) throw new InvalidArgumentError("must be a billing period YYYY-MM");
  return value;
};
const defaultUrl = process.env.LEDGER_URL ?? "http://127.0.0.1:8080";
const platformKey = () => clientPlatformKey(ingestConfigFromEnv().platformKey, engineConfigFromEnv());

/** `ledger invoice` and `ledger close`, against a running ledger (its API). */
export function registerInvoiceCommands(program: Command): void {
  program
    .command("invoice")
    .description("print an organization's invoice for a period: final once the period is closed, a preview while it is open (LEDGER_API_KEY or the platform key)")
    .requiredOption("--org <id>", "the organization")
    .requiredOption("--period <YYYY-MM>", "the billing period", period)
    .option("--json", "one JSON object per invoice line, then the total")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { org: string; period: string; json?: boolean; url: string }) => {
      const key = process.env.LEDGER_API_KEY || platformKey();
      const doc = await callLedger<InvoiceDocument>(opts.url, key, "GET", `/v1/invoices/${encodeURIComponent(opts.org)}/${opts.period}`);
      process.stdout.write(opts.json ? invoiceJsonLines(doc) : invoiceText(doc));
    });

  program
    .command("close")
    .description("close a billing period (and every earlier open one): markers on every partition; waits until its invoices are final")
    .requiredOption("--period <YYYY-MM>", "the period to close", period)
    .option("--no-wait", "return once the markers are written")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { period: string; wait: boolean; url: string }) => {
      const r = await callLedger<{ period: string; partitions: number; final: boolean }>(opts.url, platformKey(), "POST", `/v1/admin/periods/${opts.period}/close`, { wait: opts.wait });
      process.stdout.write(`closed ${r.period}: markers on ${r.partitions} partition(s)${r.final ? "; its invoices are final" : ""}\n`);
    });
}
