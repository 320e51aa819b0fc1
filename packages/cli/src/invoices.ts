import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import { Option } from "commander";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { invoiceJsonLines, invoiceText, invoiceTotalLine, isDayKey, isPeriodKey, type CatalogueVersionJson, type InvoiceDocument } from "@ledger/billing";
import { ConfigError, engineConfigFromEnv } from "@ledger/config";
import { apiConfigFromEnv } from "@ledger/api";
import type { InvoiceSummary, WebhookDeliveryJson } from "@ledger/clickhouse";
import { callLedger, LedgerRequestError } from "./admin-client";
import { clientPlatformKey } from "./platform-key";

/** A `--period` option's value: a billing period YYYY-MM, or commander's error naming it. */
export const period = (value: string) => {
  if (!isPeriodKey(value)) throw new InvalidArgumentError("must be a billing period YYYY-MM");
  return value;
};
const defaultUrl = process.env.LEDGER_URL ?? "http://127.0.0.1:8080";
const platformKey = () => clientPlatformKey(apiConfigFromEnv().platformKey, engineConfigFromEnv());

/** `ledger invoice` and `ledger close`, against a running ledger (its API). */
export function registerInvoiceCommands(program: Command): void {
  program
    .command("invoice")
    .description(
      "print an organization's invoice for a period: final once the period is closed, a preview while it is open (a day: that day's seat invoice); without --period, the list of its invoices (monthly, seat and annual) with kind, issue time, status and amount due (LEDGER_API_KEY or the platform key)",
    )
    .requiredOption("--org <id>", "the organization")
    .option("--period <YYYY-MM|YYYY-MM-DD>", "the billing period, or a day for that day's seat invoice (without it: every invoice, listed)", (value: string) => {
      if (!isPeriodKey(value) && !isDayKey(value)) throw new InvalidArgumentError("must be a billing period YYYY-MM or a seat invoice's day YYYY-MM-DD");
      return value;
    })
    .option("--json", "one JSON object per invoice line, then the total (a list: one object per invoice)")
    .option("--sources", "each line followed by the ledger rows behind it (with --json: a sources array on each line)")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { org: string; period?: string; json?: boolean; sources?: boolean; url: string }) => {
      const key = process.env.LEDGER_API_KEY || platformKey();
      if (opts.period === undefined) {
        const { invoices } = await callLedger<{ invoices: InvoiceSummary[] }>(opts.url, key, "GET", `/v1/invoices/${encodeURIComponent(opts.org)}`);
        process.stdout.write(opts.json ? invoices.map((i) => `${JSON.stringify(i)}\n`).join("") : invoiceListText(opts.org, invoices));
        return;
      }
      const path = `/v1/invoices/${encodeURIComponent(opts.org)}/${opts.period}`;
      const doc = await callLedger<InvoiceDocument>(opts.url, key, "GET", path);
      if (!opts.sources) {
        process.stdout.write(opts.json ? invoiceJsonLines(doc) : invoiceText(doc));
        return;
      }
      const sources: Record<string, unknown>[][] = [];
      for (let n = 1; n <= doc.lines.length; n++) sources.push((await callLedger<{ sources: Record<string, unknown>[] }>(opts.url, key, "GET", `${path}/lines/${n}/sources`)).sources);
      if (opts.json) {
        const lines = doc.lines.map((l, i) => JSON.stringify({ ...l, sources: sources[i] }));
        process.stdout.write([...lines, JSON.stringify(invoiceTotalLine(doc))].join("\n") + "\n");
        return;
      }
      const text = invoiceText(doc).split("\n");
      // The text's rows are: a header (and the heading's line), one row per line, the total and the amount due: sources go under their line.
      const head = doc.heading ? 2 : 1;
      const out = text.slice(0, head);
      doc.lines.forEach((_, i) => {
        out.push(text[i + head]!);
        for (const row of sources[i]!) out.push(`      ${Object.entries(row).map(([k, v]) => `${k}=${String(v)}`).join(" ")}`);
      });
      process.stdout.write([...out, ...text.slice(doc.lines.length + head)].join("\n"));
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

/** `ledger prices list` and `ledger prices add`: the price catalogue's versions (§10.1). */
export function registerPriceCommands(program: Command): void {
  const prices = program.command("prices").description("the price catalogue: versions of every plan's prices, each from a first period on");
  const describe = (v: CatalogueVersionJson) =>
    [`version ${v.version} from ${v.first_period}`, ...(["developer", "plus"] as const).map((plan) => {
      const p = v.plans[plan];
      return `  ${plan.padEnd(9)} base trace $${p.base_trace_usd}, upgrade $${p.upgrade_usd}, deployment run $${p.deployment_run_usd}, seat $${p.seat_usd}/month, ${p.free_base_traces} free base traces`;
    })].join("\n");
  prices
    .command("list")
    .description("every version, §10.1's defaults first")
    .option("--json", "one JSON object per version")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { json?: boolean; url: string }) => {
      const versions = await callLedger<CatalogueVersionJson[]>(opts.url, platformKey(), "GET", "/v1/admin/catalogue");
      process.stdout.write(versions.map((v) => (opts.json ? JSON.stringify(v) : describe(v))).join("\n") + "\n");
    });
  prices
    .command("add")
    .description("add a version from a JSON file ({first_period, plans: {developer, plus}}; see docs/invoices.md); refused for a closed period")
    .argument("<file>", "the version as JSON, or - for standard input")
    .option("--json", "print the stored version as JSON")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (file: string, opts: { json?: boolean; url: string }) => {
      let body: unknown;
      try {
        body = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8"));
      } catch (error) {
        throw new ConfigError(`cannot read a JSON catalogue version from ${file === "-" ? "standard input" : file}: ${(error as Error).message}`);
      }
      const v = await callLedger<CatalogueVersionJson>(opts.url, platformKey(), "POST", "/v1/admin/catalogue", body);
      process.stdout.write(opts.json ? `${JSON.stringify(v)}\n` : `${describe(v)}\n`);
    });
}

/** Every invoice of an organization, one row each, amounts aligned. */
function invoiceListText(org: string, invoices: readonly InvoiceSummary[]): string {
  const rows = invoices.map((i) => [i.invoice_id, i.kind, i.period, i.status === "closed" ? "final" : "preview", i.issued_at ?? "", `$${i.total_usd}`, i.credits_usd === "0.00" ? "" : `-$${i.credits_usd}`, `$${i.amount_due_usd}`]);
  const head = ["invoice", "kind", "period", "status", "issued", "total", "credits", "amount due"];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((v, c) => (c >= 5 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join("  ").trimEnd();
  return [`Invoices of ${org}`, line(head), ...rows.map(line), ""].join("\n");
}

const positiveInteger = (v: string) => {
  if (!/^[1-9]\d{0,8}$/.test(v)) throw new InvalidArgumentError("must be a whole number of at least 1");
  return Number(v);
};

/** `ledger webhooks list|resend`: invoice deliveries to the webhook (§10.6, IE3). */
export function registerWebhookCommands(program: Command): void {
  const webhooks = program.command("webhooks").description("invoice deliveries to LEDGER_WEBHOOK_URL: each invoice's attempts, and a resend");
  webhooks
    .command("list")
    .description("deliveries, newest first (every one, or the newest N with --limit), or one invoice's")
    .option("--invoice <id>", "one invoice, such as monthly/2024-06/acme")
    .option("--limit <n>", "at most this many, the newest", positiveInteger)
    .option("--json", "one JSON object per delivery")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { invoice?: string; limit?: number; json?: boolean; url: string }) => {
      // Page by page (the API gives at most 1,000 a page), following each page's `next`.
      const deliveries: WebhookDeliveryJson[] = [];
      let before: string | null | undefined;
      do {
        const want = Math.min(1_000, (opts.limit ?? Infinity) - deliveries.length);
        const params = new URLSearchParams({ limit: String(want), ...(opts.invoice === undefined ? {} : { invoice_id: opts.invoice }), ...(before ? { before } : {}) });
        const page = await callLedger<{ deliveries: WebhookDeliveryJson[]; next: string | null }>(opts.url, platformKey(), "GET", `/v1/admin/webhooks?${params}`);
        deliveries.push(...page.deliveries);
        before = page.next;
      } while (before && deliveries.length < (opts.limit ?? Infinity));
      if (opts.json) {
        process.stdout.write(deliveries.map((d) => `${JSON.stringify(d)}\n`).join(""));
        return;
      }
      if (deliveries.length === 0) {
        process.stdout.write("no invoice has been queued for the webhook\n");
        return;
      }
      const last = (d: WebhookDeliveryJson) => (d.last_outcome === null ? "" : `${d.last_outcome}${d.last_status ? ` ${d.last_status}` : ""}${d.last_error ? `: ${d.last_error}` : ""}`);
      const when = (d: WebhookDeliveryJson) => (d.status === "delivered" ? `delivered ${d.delivered_at}` : d.next_attempt_at === null ? "no further attempt" : `next ${d.next_attempt_at}`);
      process.stdout.write(deliveries.map((d) => `${d.invoice_id}  round ${d.round}  ${d.status}  ${d.attempts} attempt(s)  ${when(d)}${last(d) ? `  last: ${last(d)}` : ""}\n`).join(""));
    });
  webhooks
    .command("resend")
    .description("deliver an invoice again: a new round of the body first queued, retried like the first")
    .argument("<invoice-id>", "such as monthly/2024-06/acme")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (invoiceId: string, opts: { url: string }) => {
      const d = await callLedger<WebhookDeliveryJson>(opts.url, platformKey(), "POST", "/v1/admin/webhooks/resend", { invoice_id: invoiceId });
      process.stdout.write(`${d.invoice_id}: round ${d.round} queued\n`);
    });
}

/** Where the usage goes beside the invoice lines: `june.csv` → `june.usage.csv`. */
export const usageFileOf = (out: string) => {
  const ext = extname(out);
  return `${out.slice(0, out.length - ext.length)}.usage${ext}`;
};

/** `ledger export`: a closed period's invoice lines and usage, in ClickHouse's own CSV or Parquet. */
export function registerExportCommand(program: Command): void {
  program
    .command("export")
    .description("write a closed period's final invoice lines to FILE and its usage per organization and workspace beside it (FILE with .usage before the extension), as ClickHouse writes them")
    .requiredOption("--period <YYYY-MM>", "a closed (final) period", period)
    .addOption(new Option("--format <format>", "the file format").choices(["csv", "parquet"]).default("csv"))
    .requiredOption("--out <file>", "where the invoice lines go")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { period: string; format: "csv" | "parquet"; out: string; url: string }) => {
      const key = platformKey();
      const fetchDataset = async (dataset: string) => {
        let res: Response;
        try {
          res = await fetch(new URL(`/v1/admin/export/${opts.period}?dataset=${dataset}&format=${opts.format}`, opts.url), { headers: { "x-api-key": key } });
        } catch (error) {
          throw new LedgerRequestError(`cannot reach the ledger at ${opts.url} (is \`pnpm ledger serve\` running?): ${(error as Error).message}`, 0);
        }
        if (!res.ok) throw new LedgerRequestError(`the ledger answered ${res.status}: ${((await res.json().catch(() => ({}))) as { error?: string }).error ?? "no detail"}`, res.status);
        return Buffer.from(await res.arrayBuffer());
      };
      const lines = await fetchDataset("invoice_lines");
      const usage = await fetchDataset("usage");
      const usageOut = usageFileOf(opts.out);
      writeFileSync(opts.out, lines);
      writeFileSync(usageOut, usage);
      process.stdout.write(`${opts.period}: invoice lines to ${opts.out} (${lines.length} bytes), usage to ${usageOut} (${usage.length} bytes), ${opts.format}\n`);
    });
}
