import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { ev } from "../support/pipeline";
import { bill, publishLog } from "../support/invoices";
import { waitFor } from "../support/wait";

// The usage page in a real browser (Debian's chromium, driven by playwright-core) over a replayed
// log: its figures must be the API's, and the API's the log's, counted by hand here.
const CHROMIUM = process.env.LEDGER_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(process.cwd(), "test-results");
const clock = { now: () => Date.parse("2024-08-10T12:00:00Z") };
let stack: LedgerStack;
let api: ReturnType<typeof ledgerApi>;
let browser: Browser;
let acmeKey: string;
let betaKey: string;

/** A seeded log: acme's traces on every day from June 1 to August 10, some upgraded days later, some delivered twice; beta's too. */
function replayLog() {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const events: object[] = [];
  const expected = new Map<string, { base: number; up: number }>();
  const bump = (day: string, k: "base" | "up") => {
    const v = expected.get(day) ?? { base: 0, up: 0 };
    v[k] += 1;
    expected.set(day, v);
  };
  for (let t = Date.parse("2024-06-01T00:00:00Z"); t < Date.parse("2024-08-10T12:00:00Z"); t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    const n = 1 + Math.floor(rnd() * 9);
    for (let i = 0; i < n; i++) {
      const trace = `acme-${day}-${i}`;
      const created = new Date(t + Math.floor(rnd() * 43_000_000)).toISOString();
      const c = ev.created("acme", trace, created, "base", { ws: rnd() < 0.7 ? "prod" : "dev" });
      events.push(c);
      if (rnd() < 0.2) events.push(c); // re-delivered: counted once
      bump(day, "base");
      if (rnd() < 0.3) {
        const upAt = new Date(Date.parse(created) + Math.floor(rnd() * 3) * 86_400_000 + 1_000);
        if (upAt.getTime() >= clock.now()) continue;
        events.push(ev.feedback("acme", trace, upAt.toISOString(), { ws: (c as { workspace_id: string }).workspace_id }));
        bump(upAt.toISOString().slice(0, 10), "up");
      }
    }
    events.push(ev.created("beta", `beta-${day}`, new Date(t).toISOString()));
  }
  events.push(bill.seatAdded("acme", "alice", "2024-06-03T00:00:00Z"), bill.seatAdded("acme", "bob", "2024-07-15T00:00:00Z"), bill.run("acme", "run-1", "2024-06-20T00:00:00Z"));
  return { events, expected };
}
const log = replayLog();

beforeAll(async () => {
  stack = await freshStack({ label: "usagepage", ingest: true, clock });
  api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
  await api.org("acme", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  await api.org("beta", { plan: "plus", payment_method: true, occurred_at: "2024-01-01T00:00:00Z" });
  // An Enterprise commitment from June (§10.8): the ledger's clock issues its annual invoice.
  await api.org("gamma", { plan: "enterprise", payment_method: true, commitment_usd: "1200", term_start: "2024-06", occurred_at: "2024-01-01T00:00:00Z" });
  await api.workspace("acme", "prod", { all_traces_limit: 150, extended_traces_limit: 40 });
  acmeKey = (await api.key("acme", "prod")).key;
  betaKey = (await api.key("beta", "prod")).key;
  // A credit known before June closes: June's final invoice draws on it (§10.7).
  const granted = await api.call("POST", "/v1/admin/orgs/acme/credits", TEST_PLATFORM_KEY, { grant_id: "welcome", amount_usd: "10", reason: "welcome", first_period: "2024-06", occurred_at: "2024-06-01T00:00:00Z" });
  if (granted.status !== 201) throw new Error(`grant: ${granted.status} ${JSON.stringify(granted.body)}`);
  await publishLog(stack, [], log.events);
  await stack.waitUntilDrained({ timeoutMs: 90_000 });
  const closed = await api.call("POST", "/v1/admin/periods/2024-06/close", TEST_PLATFORM_KEY, { wait: true });
  if (closed.status !== 200) throw new Error(`close: ${closed.status} ${JSON.stringify(closed.body)}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root on a machine without a network: no sandbox, no background connections.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function openPage(key: string, org = ""): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  await page.goto(`${stack.url}/usage`);
  await page.getByLabel("API key").fill(key);
  await page.getByLabel("Organization").fill(org);
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForFunction(() => ["loaded", "refused", "failed"].includes(document.body.dataset.state ?? ""));
  return page;
}
const apiJson = async (path: string, key = acmeKey) => {
  const r = await api.call("GET", path, key);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
/** The page's daily table and its chart's data, as numbers per day. */
const pageSeries = (page: Page) =>
  page.evaluate(() => {
    const rows = [...document.querySelectorAll("#daily-table tbody tr")].map((tr) => {
      const cells = tr.querySelectorAll("td");
      return { day: tr.querySelector("th")!.textContent!, base_traces: Number(cells[0]!.dataset.value), extended_upgrades: Number(cells[1]!.dataset.value) };
    });
    const chart = (window as unknown as { ledgerUsage: { chart: { data: number[][] } } }).ledgerUsage.chart.data;
    return { rows, chart: chart[0]!.map((x, i) => ({ day: new Date(x * 1000).toISOString().slice(0, 10), base_traces: chart[1]![i]!, extended_upgrades: chart[2]![i]! })) };
  });

test("a wrong key is refused and nothing is shown; a key of another organization cannot read acme", async () => {
  const wrong = await openPage("lsv2_sk_not_a_key");
  expect(await wrong.evaluate(() => document.body.dataset.state)).toBe("refused");
  expect(await wrong.locator("#error").textContent()).toMatch(/The key was refused: the API key in x-api-key is not a key of this ledger/);
  expect(await wrong.locator("#main").isHidden()).toBe(true);
  await wrong.close();
  const other = await openPage(betaKey, "acme");
  expect(await other.locator("#error").textContent()).toMatch(/belongs to organization "beta", not "acme"/);
  expect(await other.locator("#main").isHidden()).toBe(true);
  expect(await other.locator("#daily-table tbody tr").count()).toBe(0);
  await other.close();
});

test("the chart and its table equal /v1/usage/daily for 30, 60 and 90 days, which equals the log; hover shows a day's figures", async () => {
  const page = await openPage(acmeKey);
  expect(await page.evaluate(() => document.body.dataset.state)).toBe("loaded");
  expect(await page.locator("#org-name").textContent()).toBe("acme");
  expect(await page.locator("#as-of").getAttribute("datetime")).toBe(new Date(clock.now()).toISOString());
  for (const days of [30, 60, 90]) {
    if (days !== 30) {
      await page.getByLabel(`Last ${days} days`).check();
      await page.waitForFunction((n) => document.querySelectorAll("#daily-table tbody tr").length === n && document.body.dataset.state === "loaded", days);
    }
    const fromApi = (await apiJson(`/v1/usage/daily?days=${days}`)) as { series: { day: string; base_traces: number; extended_upgrades: number }[]; through: string };
    expect(fromApi.through).toBe("2024-08-10");
    expect(fromApi.series).toHaveLength(days);
    const fromLog = fromApi.series.map((p) => ({ day: p.day, base_traces: log.expected.get(p.day)?.base ?? 0, extended_upgrades: log.expected.get(p.day)?.up ?? 0 }));
    expect(fromApi.series).toEqual(fromLog);
    const shown = await pageSeries(page);
    expect(shown.rows).toEqual(fromApi.series);
    expect(shown.chart).toEqual(fromApi.series);
  }
  // Before any hover the legend reads a sentence: the last day shown and how to see another.
  const lastDay = (await apiJson("/v1/usage/daily?days=90")).series.at(-1) as { day: string; base_traces: number; extended_upgrades: number };
  expect(await page.locator("#hover").textContent()).toBe(`${lastDay.day}, the last day shown: ${lastDay.base_traces} base traces, ${lastDay.extended_upgrades} extended upgrades. Point at a day to see its figures.`);
  // A favicon, at the page's address and the root's.
  for (const path of ["/usage/favicon.svg", "/favicon.ico"]) expect((await fetch(`${stack.url}${path}`)).headers.get("content-type")).toBe("image/svg+xml");
  // Hover: the mouse over a day's position on the chart shows that day's figures.
  const box = (await page.locator("#chart .u-over").boundingBox())!;
  const day = "2024-07-04";
  const left = await page.evaluate((d) => {
    const u = (window as unknown as { ledgerUsage: { chart: { valToPos: (v: number, s: string) => number } } }).ledgerUsage.chart;
    return u.valToPos(Date.parse(`${d}T00:00:00Z`) / 1000, "x");
  }, day);
  await page.mouse.move(box.x + left, box.y + box.height / 2);
  await page.waitForFunction((d) => document.getElementById("hover")!.dataset.day === d, day);
  const want = log.expected.get(day)!;
  expect(await page.locator("#hover").textContent()).toBe(`${day}: ${want.base} base traces, ${want.up} extended upgrades`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "usage-page.png"), fullPage: true });
  await page.close();
});

test("invoices: open previews and the closed June with its sources and CSV equal the API's; limits equal /v1/usage and the configured limits", async () => {
  const page = await openPage(TEST_PLATFORM_KEY, "acme");
  expect(await page.evaluate(() => document.body.dataset.state)).toBe("loaded");
  const shownInvoice = (period: string) =>
    page.evaluate((p) => {
      const box = document.querySelector(`article.invoice[data-period="${p}"]`)!;
      return {
        status: (box as HTMLElement).dataset.status,
        total: (box.querySelector(".total") as HTMLElement).dataset.value,
        due: (box.querySelector(".amount-due") as HTMLElement).dataset.value,
        credits: (box.querySelector(".credits") as HTMLElement | null)?.dataset.value ?? "0.00",
        amounts: [...box.querySelectorAll("table.lines > tbody > tr:not(.sources)")].map((tr) => (tr.querySelectorAll("td")[5] as HTMLElement).dataset.value),
      };
    }, period);
  const periods = (await apiJson("/v1/invoices/acme")).periods as { period: string; status: string }[];
  expect(periods).toEqual([
    { period: "2024-08", status: "open" },
    { period: "2024-07", status: "open" },
    { period: "2024-06", status: "closed" },
  ]);
  for (const { period } of periods) {
    const doc = await apiJson(`/v1/invoices/acme/${period}`);
    expect(await shownInvoice(period)).toEqual({ status: doc.status, total: doc.total_usd, due: doc.amount_due_usd, credits: doc.credits_usd, amounts: doc.lines.map((l: { amount_usd: string }) => l.amount_usd) });
  }
  // Credits: June's final invoice took $10 of welcome; the page's balances are /v1/credits's.
  const credits = await apiJson("/v1/credits/acme");
  expect(credits).toMatchObject({ granted_usd: "10.00", consumed_usd: "10.00", remaining_usd: "0.00" });
  expect((await apiJson("/v1/invoices/acme/2024-06")).credits_usd).toBe("10.00");
  expect(await page.locator("#credits tr[data-grant]").evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)))).toEqual([
    ["welcome", "$10.00", "2024-06 to no end", "welcome", "$10.00", "$0.00", ""],
  ]);
  const june = await apiJson("/v1/invoices/acme/2024-06");
  expect(june.lines.map((l: { kind: string }) => l.kind)).toContain("base_traces");
  // Sources of June's base-traces line: as many rows as the API's.
  const n = june.lines.findIndex((l: { kind: string }) => l.kind === "base_traces") + 1;
  const sources = (await apiJson(`/v1/invoices/acme/2024-06/lines/${n}/sources`)).sources as unknown[];
  const juneBox = page.locator('article.invoice[data-period="2024-06"]');
  // Read like an invoice: number, issue time and dates covered (UTC, as <time>), plan, prices, amount due.
  const heading = juneBox.locator(".invoice-heading");
  expect(await heading.getAttribute("data-invoice-id")).toBe(june.heading.invoice_id);
  expect(await heading.locator("time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")))).toEqual([june.heading.issued_at, june.heading.period_start, june.heading.period_end]);
  expect(await heading.textContent()).toMatch(new RegExp(`UTC\\).*plan ${june.heading.plan}, price version ${june.heading.price_version}; amount due \\$${june.amount_due_usd.replace(".", "\\.")}\\.$`));
  expect(await heading.textContent()).toContain(" UTC; covers ");
  await juneBox.locator("table.lines > tbody > tr").nth(n - 1).getByRole("button", { name: "Show sources" }).click();
  await expect.poll(() => juneBox.locator("tr.sources tbody tr").count()).toBe(Math.min(200, sources.length));
  expect(sources.length).toBe(june.lines[n - 1].quantity);
  // The CSV download is the API's CSV.
  const [download] = await Promise.all([page.waitForEvent("download"), juneBox.getByRole("button", { name: "Download 2024-06 as CSV" }).click()]);
  const csv = readFileSync((await download.path())!, "utf8");
  const fromApi = await (await fetch(`${stack.url}/v1/invoices/acme/2024-06?format=csv`, { headers: { "x-api-key": acmeKey } })).text();
  expect(csv).toBe(fromApi);
  expect(csv.split("\r\n")[0]).toBe("org_id,period,status,line,kind,usage_period,adjusts,user_id,at,quantity,free_quantity,unit_price_usd,grant_id,amount_usd,credits_usd,amount_due_usd,reason");

  // Limits: each workspace's August usage from /v1/usage, against its configured limits.
  const usage = (await apiJson("/v1/usage?from=2024-08&to=2024-08&by=workspace")).rows as { workspace_id: string; base_traces: number; extended_upgrades: number }[];
  const shownLimits = await page.evaluate(() =>
    [...document.querySelectorAll("#workspace-limits tbody tr")].map((tr) => [tr.querySelector("th")!.textContent, ...[...tr.querySelectorAll("td")].map((td) => (td as HTMLElement).dataset.value)]),
  );
  const prod = usage.find((r) => r.workspace_id === "prod")!;
  const dev = usage.find((r) => r.workspace_id === "dev")!;
  expect(shownLimits).toEqual([
    ["dev", String(dev.base_traces), "", String(dev.extended_upgrades), ""],
    ["prod", String(prod.base_traces), "150", String(prod.extended_upgrades), "40"],
  ]);
  // Each limit with its dollar figure (§6.3) as /v1/limits gives it, and a bar of usage against it.
  const limitsDoc = (await apiJson("/v1/limits")) as { limits: { limit: string; workspace_id?: string; limit_usd?: string }[] };
  const usdOf = (name: string) => limitsDoc.limits.find((l) => l.limit === name && l.workspace_id === "prod")!.limit_usd;
  expect(await page.locator("#workspace-limits .limit-usd").evaluateAll((spans) => spans.map((s) => (s as HTMLElement).dataset.usd))).toEqual([usdOf("workspace:all_traces"), usdOf("workspace:extended_traces")]);
  expect(await page.locator("#workspace-limits meter").count()).toBe(2);

  // The month so far and its forecast (§4.2) are /v1/usage/outlook's.
  const outlook = await apiJson("/v1/usage/outlook");
  const box = page.locator("#month .outlook");
  expect(await box.getAttribute("data-period")).toBe("2024-08");
  expect(await box.getAttribute("data-through")).toBe("2024-08-09");
  expect(await box.locator(".so-far").getAttribute("data-total")).toBe(outlook.total_usd.so_far);
  expect(await box.locator(".allotment").textContent()).toBe(`${outlook.free_base_traces.used.toLocaleString("en-US")} of ${outlook.free_base_traces.allotment.toLocaleString("en-US")} free base traces used.`);
  expect(await box.locator(".forecast").getAttribute("data-due-high")).toBe(outlook.amount_due_usd.forecast_high);
  expect(await box.locator(".method").textContent()).toContain(outlook.method);
  const planRows = await page.locator("#plan-limits tbody tr th").allTextContents();
  expect(planRows.length).toBeGreaterThan(0);
  await page.close();
});

test("what upgraded the traces: the page's table is /v1/usage/upgrades's, for the month shown and another picked (§4.1)", async () => {
  const page = await openPage(acmeKey);
  const shown = () =>
    page.locator("#upgrades table.upgrade-causes tbody tr").evaluateAll((rows) =>
      rows.map((r) => ({ group: (r as HTMLElement).dataset.cause, upgrades: Number(r.querySelectorAll("td")[1]!.textContent), cost_usd: (r.querySelectorAll("td")[2] as HTMLElement).dataset.value, saving: (r.querySelectorAll("td")[3] as HTMLElement).dataset.value })),
    );
  const fromApi = async (period: string) =>
    ((await apiJson(`/v1/usage/upgrades?period=${period}&by=cause`)).rows as { group: string; upgrades: number; cost_usd: string; saving_usd: string | null }[]).map((r) => ({ group: r.group, upgrades: r.upgrades, cost_usd: r.cost_usd, saving: r.saving_usd ?? "" }));
  await expect.poll(() => page.locator("#upgrades table.upgrade-causes").getAttribute("data-period")).toBe("2024-08");
  expect(await shown()).toEqual(await fromApi("2024-08"));
  await page.getByLabel("Month of the upgrades").fill("2024-06");
  await expect.poll(() => page.locator("#upgrades table.upgrade-causes").getAttribute("data-period")).toBe("2024-06");
  const june = await fromApi("2024-06");
  expect(june.length).toBeGreaterThan(0);
  expect(await shown()).toEqual(june);
  await page.close();
});

test("the chart by workspace (a switch), and the month's cost by workspace and project, are the API's (§4.3)", async () => {
  const page = await openPage(acmeKey);
  // The switch: one workspace's days are /v1/usage/daily's for it.
  await page.getByLabel("Chart of").selectOption("prod");
  await page.waitForFunction(() => document.getElementById("org-name")!.textContent === "acme (workspace prod)" && document.body.dataset.state === "loaded");
  const prod = (await apiJson("/v1/usage/daily?days=30&workspace=prod")).series;
  expect((await pageSeries(page)).chart).toEqual(prod);
  const all = (await apiJson("/v1/usage/daily?days=30")).series as { base_traces: number }[];
  expect(prod.reduce((t: number, p: { base_traces: number }) => t + p.base_traces, 0)).toBeLessThan(all.reduce((t, p) => t + p.base_traces, 0));
  // Cost by workspace and by project: the tables are /v1/usage/costs's; by workspace, its counts are /v1/usage's.
  for (const by of ["workspace", "project"]) {
    const costs = await apiJson(`/v1/usage/costs?period=2024-08&by=${by}`);
    const shown = await page.locator(`#costs table.costs-${by} tbody tr`).evaluateAll((rows) => rows.map((r) => [(r as HTMLElement).dataset.group, ...[...r.querySelectorAll("td")].map((td) => (td as HTMLElement).dataset.value)]));
    expect(shown).toEqual(costs.rows.map((r: { group: string; base_traces: number; extended_upgrades: number; list_usd: string }) => [r.group, String(r.base_traces), String(r.extended_upgrades), r.list_usd]));
    expect(await page.locator(`#costs table.costs-${by} .usage-total`).getAttribute("data-value")).toBe(costs.usage_usd);
  }
  const byWorkspace = (await apiJson("/v1/usage/costs?period=2024-08&by=workspace")).rows as { group: string; base_traces: number; extended_upgrades: number }[];
  const usage = (await apiJson("/v1/usage?from=2024-08&to=2024-08&by=workspace")).rows as { workspace_id: string; base_traces: number; extended_upgrades: number }[];
  expect(byWorkspace.map((r) => [r.group, r.base_traces, r.extended_upgrades]).sort()).toEqual(usage.map((r) => [r.workspace_id, r.base_traces, r.extended_upgrades]).sort());
  await page.close();
});

test("an Enterprise commitment's burndown is /v1/credits's (AC3)", async () => {
  const doc = await waitFor("gamma's annual invoice", async () => {
    const r = await api.call("GET", "/v1/credits/gamma", TEST_PLATFORM_KEY);
    return r.body.commitment ? r.body : undefined;
  }, 30_000);
  expect(doc.commitment).toMatchObject({ term_start: "2024-06", last_period: "2025-05", committed_usd: "1200.00", consumed_usd: "0.00", remaining_usd: "1200.00", runs_out: null });
  const page = await openPage(TEST_PLATFORM_KEY, "gamma");
  const box = page.locator('#credits .commitment[data-term-start="2024-06"]');
  await expect.poll(() => box.count()).toBe(1);
  expect(await box.locator("h3").textContent()).toBe("Commitment 2024-06 to 2025-05");
  expect(await box.locator(".burndown").textContent()).toBe(`Committed $1200.00; consumed $0.00; remaining $1200.00; ${doc.commitment.months_left} month(s) left.`);
  expect(await box.locator(".runs-out").getAttribute("data-runs-out")).toBe("");
  expect(await box.locator("meter").getAttribute("value")).toBe("0");
  // Every invoice in one list, as the API lists them: the annual invoice among them.
  const listed = await page.locator("#invoices table.invoice-list tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.invoiceId));
  const api_ = (await api.call("GET", "/v1/invoices/gamma", TEST_PLATFORM_KEY)).body as { invoices: { invoice_id: string }[] };
  expect(listed).toEqual(api_.invoices.map((i) => i.invoice_id));
  expect(listed).toContain("annual_commitment/2024-06/gamma");
  // The commitment's grant is listed with the others.
  expect(await page.locator("#credits tr[data-grant]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.grant))).toEqual(["commitment/gamma/2024-06"]);
  await page.close();
});

test("the JSON behind the page refuses bad parameters with a sentence naming them", async () => {
  const bad = await api.call("GET", "/v1/usage/daily?days=45&through=2024-13-01", acmeKey);
  expect(bad.status).toBe(400);
  expect(bad.body.error).toBe("bad query parameters: days must be 30, 60 or 90; through must be a day YYYY-MM-DD");
  expect((await api.call("GET", "/v1/usage/daily?org=beta", acmeKey)).status).toBe(403);
  expect((await api.call("GET", "/v1/limits?org=beta", acmeKey)).status).toBe(403);
  expect((await api.call("GET", "/v1/invoices/beta", acmeKey)).status).toBe(403);
  expect((await api.call("GET", "/v1/usage/daily", TEST_PLATFORM_KEY)).body.error).toMatch(/org is required with the platform key/);
  expect((await api.call("GET", "/v1/invoices/acme/2024-06?format=xml", acmeKey)).body.error).toBe("bad query parameters: format must be json or csv");
});
