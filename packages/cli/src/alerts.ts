import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { AlertRuleJson, UsageThresholdCrossed } from "@ledger/billing";
import { engineConfigFromEnv } from "@ledger/config";
import { apiConfigFromEnv } from "@ledger/api";
import { callLedger } from "./admin-client";
import { clientPlatformKey } from "./platform-key";

const defaultUrl = process.env.LEDGER_URL ?? "http://127.0.0.1:8080";
const platformKey = () => clientPlatformKey(apiConfigFromEnv().platformKey, engineConfigFromEnv());

/** `--at 50,80,100`: whole percentages. */
const percentages = (value: string) => {
  const list = value.split(",").map((v) => v.trim());
  if (list.some((v) => !/^\d{1,4}$/.test(v))) throw new InvalidArgumentError("must be whole percentages separated by commas, such as 50,80,100");
  return list.map(Number);
};

const describe = (r: AlertRuleJson) =>
  `${r.alert_id}: ${r.metric === "spend" ? `the month's cost against $${r.spend_usd}` : `workspace ${r.workspace_id}'s ${r.metric} against its limit`}, at ${r.thresholds.join(", ")} %`;

/** `ledger alerts set|list` (§6.6), against a running ledger with the platform key. */
export function registerAlertCommands(program: Command): void {
  const alerts = program.command("alerts").description("threshold alerts: a workspace's limit or the month's cost crossing a percentage, published once per period");
  alerts
    .command("set")
    .description("set an organization's alert (replacing the one that watches the same thing)")
    .requiredOption("--org <id>", "the organization")
    .option("--workspace <id>", "a workspace (with --limit)")
    .option("--limit <name>", "all_traces or extended_traces (with --workspace)")
    .option("--spend-usd <amount>", "the month's cost to measure against, such as 500.00")
    .requiredOption("--at <percentages>", "when to alert, such as 50,80,100", percentages)
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { org: string; workspace?: string; limit?: string; spendUsd?: string; at: number[]; url: string }) => {
      const body = { ...(opts.workspace !== undefined ? { workspace_id: opts.workspace } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}), ...(opts.spendUsd !== undefined ? { spend_usd: opts.spendUsd } : {}), at: opts.at };
      const rule = await callLedger<AlertRuleJson>(opts.url, platformKey(), "PUT", `/v1/admin/orgs/${encodeURIComponent(opts.org)}/alerts`, body);
      process.stdout.write(`${opts.org}: ${describe(rule)}\n`);
    });
  alerts
    .command("list")
    .description("an organization's alert rules and the crossings published")
    .requiredOption("--org <id>", "the organization")
    .option("--json", "the rules and crossings as JSON")
    .option("--url <url>", "the ledger's base URL", defaultUrl)
    .action(async (opts: { org: string; json?: boolean; url: string }) => {
      const doc = await callLedger<{ rules: AlertRuleJson[]; crossings: UsageThresholdCrossed[] }>(opts.url, platformKey(), "GET", `/v1/admin/orgs/${encodeURIComponent(opts.org)}/alerts`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(doc)}\n`);
        return;
      }
      const lines = [
        ...(doc.rules.length ? doc.rules.map(describe) : ["no alert rules"]),
        ...doc.crossings.map((c) => `crossed ${c.threshold_percent} % of ${c.workspace_id !== undefined ? `${c.workspace_id}'s ${c.metric}` : "the month's cost"} in ${c.period} at ${c.crossed_at}: ${c.value} of ${c.target} ${c.unit} (${c.id})`),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
