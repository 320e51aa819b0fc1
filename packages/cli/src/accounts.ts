import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import type { CreditsDocument } from "@ledger/billing";
import { period } from "./invoices";
import { engineConfigFromEnv } from "@ledger/config";
import { apiConfigFromEnv } from "@ledger/api";
import { callLedger } from "./admin-client";
import { CommandLineError } from "./command-line-error";
import { clientPlatformKey } from "./platform-key";

const defaultUrl = () => process.env.LEDGER_URL ?? "http://127.0.0.1:8080";
const platformKey = () => clientPlatformKey(apiConfigFromEnv().platformKey, engineConfigFromEnv());
const out = (text: string): void => void process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);

const wholeNumber = (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError("must be a whole number");
  return Number(v);
};
// "none" stays a string here: commander turns a parser's null into "".
const limitValue = (v: string) => (v === "none" ? "none" : wholeNumber(v));
const limitOf = (v: unknown) => (v === "none" ? null : v);
const usd = (v: string) => {
  if (!/^\d{1,9}(\.\d{1,6})?$/.test(v)) throw new InvalidArgumentError("must be dollars as a decimal such as 39.00 (at most 6 decimals)");
  return v;
};
const common = (c: Command) => c.option("--json", "print JSON").option("--url <url>", "the ledger's base URL (default LEDGER_URL or http://127.0.0.1:8080)");

/** A plain table: columns padded, one row per line. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n") + "\n";
}

type AccountEventAnswer = Record<string, unknown> & { id: string; type: string; org_id: string };
const describe = (e: AccountEventAnswer) =>
  Object.entries(e)
    .filter(([k]) => !["id", "type", "occurred_at"].includes(k))
    .map(([k, v]) => `${k}=${v === null ? "none" : String(v)}`)
    .join(" ");

/** `ledger orgs|workspaces|projects set`, `ledger keys …`, `ledger limits`: the admin API from the command line. */
export function registerAccountCommands(program: Command): void {
  const orgs = program.command("orgs").description("organizations: plan, payment method, contract terms");
  common(
    orgs
      .command("set")
      .description("configure an organization (replaces its earlier configuration whole)")
      .argument("<org>", "organization id")
      .addOption(new Option("--plan <plan>", "the plan").choices(["developer", "plus", "startup", "enterprise"]).makeOptionMandatory())
      .option("--payment-method", "a payment method is on file")
      .option("--no-payment-method", "no payment method on file (default)")
      .option("--events-per-hour <n>", "enterprise: events per clock hour", wholeNumber)
      .option("--bytes-per-hour <n>", "enterprise: ingested bytes per clock hour", wholeNumber)
      .option("--seat-price <usd>", "contract: price of a seat per month", usd)
      .option("--free-base-traces <n>", "contract: free base traces per month", wholeNumber)
      .option("--base-trace-price <usd>", "contract: price of a base trace", usd)
      .option("--upgrade-price <usd>", "contract: price of an extended retention upgrade", usd)
      .option("--deployment-run-price <usd>", "contract: price of a deployment run", usd)
      .option("--commitment <usd>", "enterprise: committed spend a year, billed by annual invoice (with --term-start)", usd)
      .addOption(new Option("--kind <kind>", "personal (one workspace, one seat, developer only) or shared (default)").choices(["personal", "shared"]))
      .option("--created-at <instant>", "when the organization was created (before 2024-04-02: a legacy organization)")
      .option("--term-start <YYYY-MM>", "enterprise: the commitment's first month", period),
  ).action(async (org: string, o: Record<string, unknown>) => {
    const body = {
      plan: o.plan,
      payment_method: o.paymentMethod === true,
      ...(o.eventsPerHour !== undefined ? { events_per_hour: o.eventsPerHour } : {}),
      ...(o.bytesPerHour !== undefined ? { bytes_per_hour: o.bytesPerHour } : {}),
      ...(o.seatPrice !== undefined ? { seat_price_usd: o.seatPrice } : {}),
      ...(o.freeBaseTraces !== undefined ? { free_base_traces: o.freeBaseTraces } : {}),
      ...(o.baseTracePrice !== undefined ? { base_trace_price_usd: o.baseTracePrice } : {}),
      ...(o.upgradePrice !== undefined ? { upgrade_price_usd: o.upgradePrice } : {}),
      ...(o.deploymentRunPrice !== undefined ? { deployment_run_price_usd: o.deploymentRunPrice } : {}),
      ...(o.commitment !== undefined ? { commitment_usd: o.commitment } : {}),
      ...(o.termStart !== undefined ? { term_start: o.termStart } : {}),
      ...(o.kind !== undefined ? { kind: o.kind } : {}),
      ...(o.createdAt !== undefined ? { created_at: o.createdAt } : {}),
    };
    const event = await callLedger<AccountEventAnswer>((o.url as string) ?? defaultUrl(), platformKey(), "PUT", `/v1/admin/orgs/${encodeURIComponent(org)}`, body);
    out(o.json ? JSON.stringify(event) : `${org}: ${describe(event)}`);
  });

  const workspaces = program.command("workspaces").description("workspaces: usage limits and default retention");
  common(
    workspaces
      .command("set")
      .description("configure a workspace (replaces its earlier configuration whole)")
      .argument("<org>", "organization id")
      .argument("<workspace>", "workspace id")
      .option("--all-traces-limit <n|none>", "trace creations per calendar month (default none)", limitValue)
      .option("--extended-traces-limit <n|none>", "extended upgrades per calendar month (default none)", limitValue)
      .addOption(new Option("--default-retention <tier>", "retention of new traces (default base)").choices(["base", "extended"])),
  ).action(async (org: string, ws: string, o: Record<string, unknown>) => {
    const body = {
      ...(o.allTracesLimit !== undefined ? { all_traces_limit: limitOf(o.allTracesLimit) } : {}),
      ...(o.extendedTracesLimit !== undefined ? { extended_traces_limit: limitOf(o.extendedTracesLimit) } : {}),
      ...(o.defaultRetention !== undefined ? { default_retention: o.defaultRetention } : {}),
    };
    const event = await callLedger<AccountEventAnswer>((o.url as string) ?? defaultUrl(), platformKey(), "PUT", `/v1/admin/orgs/${encodeURIComponent(org)}/workspaces/${encodeURIComponent(ws)}`, body);
    out(o.json ? JSON.stringify(event) : `${org}/${ws}: ${describe(event)}`);
  });

  const projects = program.command("projects").description("projects: default retention");
  common(
    projects
      .command("set")
      .description("configure a project")
      .argument("<org>", "organization id")
      .argument("<workspace>", "workspace id")
      .argument("<project>", "project id")
      .addOption(new Option("--default-retention <tier>", "retention of the project's new traces").choices(["base", "extended"]).makeOptionMandatory()),
  ).action(async (org: string, ws: string, project: string, o: Record<string, unknown>) => {
    const path = `/v1/admin/orgs/${encodeURIComponent(org)}/workspaces/${encodeURIComponent(ws)}/projects/${encodeURIComponent(project)}`;
    const event = await callLedger<AccountEventAnswer>((o.url as string) ?? defaultUrl(), platformKey(), "PUT", path, { default_retention: o.defaultRetention });
    out(o.json ? JSON.stringify(event) : `${org}/${ws}/${project}: ${describe(event)}`);
  });

  const keys = program.command("keys").description("API keys: create (shown once), list, revoke");
  common(
    keys
      .command("create")
      .description("create a key bound to one organization and workspace; the key is printed once")
      .requiredOption("--org <org>", "organization id")
      .requiredOption("--workspace <ws>", "workspace id")
      .option("--service", "a service key (lsv2_sk_…) instead of a personal one")
      .option("--user <id>", "the user a personal key (lsv2_pt_…) belongs to"),
  ).action(async (o: Record<string, unknown>) => {
    if (!o.service && o.user === undefined) throw new CommandLineError("a personal key needs --user <id> (the user it belongs to), or ask for a service key with --service");
    const body = { org_id: o.org, workspace_id: o.workspace, ...(o.service ? { kind: "service" } : { kind: "personal" }), ...(o.user !== undefined ? { user_id: o.user } : {}) };
    const created = await callLedger<{ key_id: string; key: string }>((o.url as string) ?? defaultUrl(), platformKey(), "POST", "/v1/admin/keys", body);
    out(o.json ? JSON.stringify({ key_id: created.key_id, key: created.key }) : `key_id ${created.key_id}\nkey    ${created.key}\n(the key is shown only now; the ledger keeps its hash)`);
  });
  common(keys.command("list").description("list keys (never the keys themselves)").option("--org <org>", "one organization")).action(
    async (o: Record<string, unknown>) => {
      const q = o.org !== undefined ? `?org=${encodeURIComponent(o.org as string)}` : "";
      const { keys: list } = await callLedger<{ keys: { key_id: string; org_id: string; workspace_id: string; kind: string; user_id?: string; created_at: string; revoked: boolean }[] }>(
        (o.url as string) ?? defaultUrl(),
        platformKey(),
        "GET",
        `/v1/admin/keys${q}`,
      );
      if (o.json) {
        out(list.map((k) => JSON.stringify({ key_id: k.key_id, org_id: k.org_id, workspace_id: k.workspace_id, kind: k.kind, created_at: k.created_at, revoked: k.revoked })).join("\n"));
      } else if (list.length === 0) out("no keys");
      else out(table(["key_id", "org_id", "workspace_id", "kind", "user_id", "created_at", "revoked"], list.map((k) => [k.key_id, k.org_id, k.workspace_id, k.kind, k.user_id ?? "", k.created_at, k.revoked ? "yes" : "no"])));
    },
  );
  common(keys.command("revoke").description("revoke a key (every replica refuses it within 10 s)").argument("<key-id>", "the key's id")).action(
    async (keyId: string, o: Record<string, unknown>) => {
      const k = await callLedger<{ key_id: string; revoked: boolean }>((o.url as string) ?? defaultUrl(), platformKey(), "POST", `/v1/admin/keys/${encodeURIComponent(keyId)}/revoke`);
      out(o.json ? JSON.stringify(k) : `${k.key_id}: revoked`);
    },
  );

  common(
    program
      .command("limits")
      .description("every limit of spec §6 that applies to an organization: value, current count, reset")
      .requiredOption("--org <org>", "organization id")
      .option("--workspace <ws>", "one workspace (default: every configured workspace)"),
  ).action(async (o: Record<string, unknown>) => {
    const q = new URLSearchParams({ org: o.org as string, ...(o.workspace !== undefined ? { workspace: o.workspace as string } : {}) });
    const r = await callLedger<{ plan: string; payment_method: boolean; kind: string; legacy: boolean; ingest_refusal: string | null; limits: Record<string, unknown>[] }>((o.url as string) ?? defaultUrl(), platformKey(), "GET", `/v1/admin/limits?${q}`);
    if (o.json) {
      out(r.limits.map((l) => JSON.stringify(l)).join("\n"));
      return;
    }
    out(`${o.org as string}: plan ${r.plan}, ${r.payment_method ? "payment method on file" : "no payment method"}, ${r.kind}${r.legacy ? ", legacy (created before 2024-04-02)" : ""}`);
    if (r.ingest_refusal) out(`ingest is refused: ${r.ingest_refusal}`);
    out(
      table(
        ["limit", "scope", "limit_value", "current", "resets_at"],
        r.limits.map((l) => [
          String(l.limit),
          [l.workspace_id !== undefined ? `workspace ${String(l.workspace_id)}` : "", l.key_id !== undefined ? `key ${String(l.key_id)}` : ""].filter(Boolean).join(" ") || `org ${String(l.org_id)}`,
          l.limit_value === null ? "none" : String(l.limit_value),
          String(l.current),
          l.resets_at === null ? "(no window open)" : String(l.resets_at),
        ]),
      ),
    );
  });

  const credits = program.command("credits").description("credits: grant, void, and list balances (§10.7)");
  common(
    credits
      .command("grant")
      .description("grant a credit; invoices of its periods draw it down after every charge")
      .requiredOption("--org <org>", "organization id")
      .option("--amount <usd>", "the credit in dollars, such as 50.00 (required, except for the early users' credit, whose amount is the ledger's)", usd)
      .requiredOption("--reason <id>", "why (an identifier, such as welcome or outage-2024-06)")
      .option("--grant-id <id>", "the grant's id (default: the reason and the time)")
      .option("--first-period <YYYY-MM>", "the first period it applies to (default: now's)", period)
      .option("--last-period <YYYY-MM>", "the last period it applies to (default: no end)", period),
  ).action(async (o: Record<string, unknown>) => {
    const grantId = (o.grantId as string | undefined) ?? `${o.reason as string}-${new Date().toISOString().replace(/[^0-9]/g, "").slice(0, 14)}`;
    const body = {
      grant_id: grantId,
      ...(o.amount !== undefined ? { amount_usd: o.amount } : {}),
      reason: o.reason,
      ...(o.firstPeriod !== undefined ? { first_period: o.firstPeriod } : {}),
      ...(o.lastPeriod !== undefined ? { last_period: o.lastPeriod } : {}),
    };
    const event = await callLedger<AccountEventAnswer>((o.url as string) ?? defaultUrl(), platformKey(), "POST", `/v1/admin/orgs/${encodeURIComponent(o.org as string)}/credits`, body);
    out(o.json ? JSON.stringify(event) : `${o.org as string}: granted ${grantId} $${o.amount as string}`);
  });
  common(
    credits
      .command("void")
      .description("void a grant: its remaining balance applies to no invoice rated after this")
      .requiredOption("--org <org>", "organization id")
      .argument("<grant>", "the grant's id"),
  ).action(async (grant: string, o: Record<string, unknown>) => {
    const event = await callLedger<AccountEventAnswer>((o.url as string) ?? defaultUrl(), platformKey(), "POST", `/v1/admin/orgs/${encodeURIComponent(o.org as string)}/credits/${encodeURIComponent(grant)}/void`, {});
    out(o.json ? JSON.stringify(event) : `${o.org as string}: voided ${grant}`);
  });
  common(
    credits
      .command("list")
      .description("each grant's balance: granted, consumed by final invoices, remaining, voided")
      .requiredOption("--org <org>", "organization id"),
  ).action(async (o: Record<string, unknown>) => {
    const doc = await callLedger<CreditsDocument>((o.url as string) ?? defaultUrl(), platformKey(), "GET", `/v1/credits/${encodeURIComponent(o.org as string)}`);
    if (o.json) {
      out(JSON.stringify(doc));
      return;
    }
    out(
      table(
        ["grant", "amount", "periods", "reason", "consumed", "remaining", "voided"],
        doc.grants.map((g) => [g.grant_id, `$${g.amount_usd}`, `${g.first_period}…${g.last_period ?? ""}`, g.reason, `$${g.consumed_usd}`, `$${g.remaining_usd}`, g.voided_at === null ? "" : `$${g.voided_usd} at ${g.voided_at}`]),
      ),
    );
    out(`total: granted $${doc.granted_usd}, consumed $${doc.consumed_usd}, remaining $${doc.remaining_usd}, voided $${doc.voided_usd}`);
    const c = doc.commitment;
    if (c) {
      const runsOut = c.runs_out === null ? "lasts the term at that rate" : `runs out in ${c.runs_out} at that rate`;
      out(
        `commitment ${c.term_start}…${c.last_period}: committed $${c.committed_usd}, consumed $${c.consumed_usd}, remaining $${c.remaining_usd}, ` +
          `${c.months_left} month(s) left; the last 30 days cost $${c.rate_usd_per_day} a day: ${runsOut}`,
      );
    }
  });
}
