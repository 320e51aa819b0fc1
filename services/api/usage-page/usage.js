// The usage page: every figure comes from the ledger's JSON API (the same ClickHouse views as the
// invoices and /v1/usage); this script only lays them out. No build step, no network beyond this
// server. Data reaches the DOM as text only (textContent), never as markup.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const state = {
    key: sessionStorage.getItem("ledger.usage.key") || "",
    org: query.get("org") || sessionStorage.getItem("ledger.usage.org") || "",
    days: ["30", "60", "90"].includes(query.get("days")) ? Number(query.get("days")) : 30,
    // ?through=YYYY-MM-DD shows a window ending on another day than today (a replayed log's month).
    through: query.get("through") || "",
    chart: null,
    daily: null,
    // The chart's workspace ("" for the whole organization).
    workspace: "",
  };

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    const res = await fetch(path, { headers: { "x-api-key": state.key } });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new ApiError(res.status, body.error || `the ledger answered ${res.status}`);
    }
    return res;
  }
  const json = async (path) => (await api(path)).json();
  const qs = (o) => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")).toString();

  const el = (tag, text, attrs = {}) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const row = (cells) => {
    const tr = el("tr");
    for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
    return tr;
  };
  const num = (n) => el("td", n === null || n === undefined ? "none" : Number(n).toLocaleString("en-US"), { class: "num", "data-value": n === null || n === undefined ? "" : String(n) });
  const setStatus = (text) => ($("status").textContent = text);
  const showError = (text) => {
    $("error").textContent = text;
    $("error").hidden = !text;
  };

  function refused(error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      $("main").hidden = true;
      document.body.dataset.state = "refused";
      showError(`The key was refused: ${error.message}`);
      return true;
    }
    return false;
  }

  // --- the daily chart -----------------------------------------------------------------------
  async function loadDaily() {
    const d = await json(`/v1/usage/daily?${qs({ org: state.org, days: state.days, through: state.through, workspace: state.workspace })}`);
    state.daily = d;
    $("org-name").textContent = d.workspace_id ? `${d.org_id} (workspace ${d.workspace_id})` : d.org_id;
    $("through").textContent = d.through;
    $("as-of").textContent = d.as_of;
    $("as-of").setAttribute("datetime", d.as_of);
    const base = d.series.reduce((s, p) => s + p.base_traces, 0);
    const up = d.series.reduce((s, p) => s + p.extended_upgrades, 0);
    $("window-totals").textContent = `${base.toLocaleString("en-US")} base traces, ${up.toLocaleString("en-US")} extended upgrades`;
    const tbody = $("daily-table").querySelector("tbody");
    tbody.replaceChildren(...d.series.map((p) => row([el("th", p.day, { scope: "row" }), num(p.base_traces), num(p.extended_upgrades)])));
    drawChart(d);
    return d;
  }

  function drawChart(d) {
    const xs = d.series.map((p) => Date.parse(`${p.day}T00:00:00Z`) / 1000);
    const data = [xs, d.series.map((p) => p.base_traces), d.series.map((p) => p.extended_upgrades)];
    const hover = (u) => {
      const i = u.cursor.idx;
      if (i === null || i === undefined) return;
      const p = d.series[i];
      $("hover").textContent = `${p.day}: ${p.base_traces.toLocaleString("en-US")} base traces, ${p.extended_upgrades.toLocaleString("en-US")} extended upgrades`;
      $("hover").dataset.day = p.day;
    };
    const opts = {
      width: Math.min(1000, document.body.clientWidth - 40),
      height: 320,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      series: [
        { label: "Day (UTC)", value: (_u, v) => (v === null ? "" : new Date(v * 1000).toISOString().slice(0, 10)) },
        { label: "Base traces (solid blue)", stroke: "#1d4ed8", fill: "rgba(29,78,216,0.08)", width: 2, points: { show: d.series.length <= 31 } },
        { label: "Extended upgrades (dashed orange)", stroke: "#c2410c", width: 2, dash: [6, 3], points: { show: d.series.length <= 31 } },
      ],
      axes: [{}, { label: "Traces per day", size: 70 }],
      // The sentence under the chart is the legend's reading; uPlot's own shows the series' names.
      legend: { live: false },
      hooks: { setCursor: [hover] },
    };
    if (state.chart) state.chart.destroy();
    $("chart").replaceChildren();
    state.chart = new uPlot(opts, data, $("chart"));
    // Before any hover the legend reads as a sentence: the last day shown, and how to see another.
    const last = d.series[d.series.length - 1];
    if (last) {
      $("hover").textContent = `${last.day}, the last day shown: ${last.base_traces.toLocaleString("en-US")} base traces, ${last.extended_upgrades.toLocaleString("en-US")} extended upgrades. Point at a day to see its figures.`;
      delete $("hover").dataset.day;
    }
    window.ledgerUsage = { chart: state.chart, daily: d };
  }

  // The chart's switch: the whole organization, or one workspace.
  function workspaceSwitch(workspaces) {
    const select = $("chart-workspace");
    const options = [el("option", "All workspaces", { value: "" }), ...workspaces.map((w) => el("option", w, { value: w }))];
    select.replaceChildren(...options);
    select.value = state.workspace;
  }

  // --- cost by workspace and project (§4.3) ------------------------------------------------------
  async function loadCosts(org, period) {
    const tables = [];
    for (const by of ["workspace", "project"]) {
      const c = await json(`/v1/usage/costs?${qs({ org, period, by })}`);
      const table = el("table", null, { class: `costs costs-${by}`, "data-period": c.period });
      table.append(el("caption", `${c.period} by ${by}: base traces at $${c.base_trace_usd}, upgrades at $${c.upgrade_usd} (list prices); the free allotment is the organization's, taken off once`));
      const thead = el("thead");
      thead.append(row([by === "workspace" ? "Workspace" : "Project", "Base traces", "Extended upgrades", "At list price"].map((t) => el("th", t, { scope: "col" }))));
      const tbody = el("tbody");
      for (const r of c.rows) {
        const tr = row([el("th", r.group, { scope: "row" }), num(r.base_traces), num(r.extended_upgrades), el("td", `$${r.list_usd}`, { class: "num", "data-value": r.list_usd })]);
        tr.dataset.group = r.group;
        tbody.append(tr);
      }
      const tfoot = el("tfoot");
      tfoot.append(
        row([el("th", `Free allotment (${c.allotment.base_traces.toLocaleString("en-US")} base traces)`, { scope: "row", colspan: "3" }), el("td", `-$${c.allotment.usd.replace(/^-/, "")}`, { class: "num" })]),
        row([el("th", "Base traces and upgrades, after the allotment", { scope: "row", colspan: "3" }), el("td", `$${c.usage_usd}`, { class: "num usage-total", "data-value": c.usage_usd })]),
      );
      table.append(thead, tbody, tfoot);
      tables.push(c.rows.length ? table : el("p", `No usage in ${c.period}.`));
    }
    $("costs").replaceChildren(...tables);
  }

  // --- limits ----------------------------------------------------------------------------------
  const count = (n) => Number(n).toLocaleString("en-US");
  // A limit cell: the number, what reaching it costs (§6.3 in dollars), and usage against it as a bar.
  function limitCell(limit, used) {
    if (!limit) return num(null);
    const td = num(limit.limit_value);
    td.append(el("span", ` ≈ $${limit.limit_usd}`, { class: "limit-usd", "data-usd": limit.limit_usd }));
    td.append(el("meter", null, { min: "0", max: String(limit.limit_value), value: String(Math.min(used, limit.limit_value)), title: `${count(used)} of ${count(limit.limit_value)}` }));
    return td;
  }

  async function loadLimits(org, period) {
    const [limits, usage] = await Promise.all([
      json(`/v1/limits?${qs({ org })}`),
      json(`/v1/usage?${qs({ org, from: period, to: period, by: "workspace" })}`),
    ]);
    for (const e of document.querySelectorAll(".limits-period")) e.textContent = period;
    $("plan-name").textContent = limits.plan;
    const used = new Map(usage.rows.map((r) => [r.workspace_id, r]));
    const limitOf = (ws, name) => limits.limits.find((l) => l.limit === name && l.workspace_id === ws);
    const wsRows = [...new Set([...limits.workspaces, ...used.keys()])].sort().map((ws) => {
      const u = used.get(ws) || { base_traces: 0, extended_upgrades: 0 };
      const all = limitOf(ws, "workspace:all_traces");
      const ext = limitOf(ws, "workspace:extended_traces");
      const cells = [el("th", ws, { scope: "row" }), num(u.base_traces), limitCell(all, u.base_traces), num(u.extended_upgrades), limitCell(ext, u.extended_upgrades)];
      if (all && u.base_traces >= all.limit_value) cells[1].classList.add("over");
      if (ext && u.extended_upgrades >= ext.limit_value) cells[3].classList.add("over");
      return row(cells);
    });
    $("workspace-limits").querySelector("tbody").replaceChildren(...wsRows);
    workspaceSwitch([...new Set([...limits.workspaces, ...used.keys()])].sort());
    const plan = limits.limits.filter((l) => l.limit.startsWith("plan:"));
    $("plan-limits").querySelector("tbody").replaceChildren(
      ...(plan.length > 0 ? plan.map((l) => row([el("th", l.limit.slice(5).replaceAll("_", " "), { scope: "row" }), num(l.current), num(l.limit_value), l.resets_at || ""])) : [row([el("td", "This plan has no hourly or monthly limits.", { colspan: "4" })])]),
    );
  }

  // --- the month so far and its forecast (§4.2) -----------------------------------------------
  async function loadOutlook(org) {
    const o = await json(`/v1/usage/outlook?${qs({ org })}`);
    const box = el("div", null, { class: "outlook", "data-period": o.period, "data-through": o.through });
    const range = (q) => (q.forecast_low === q.forecast_high ? count(q.forecast_low) : `${count(q.forecast_low)} to ${count(q.forecast_high)}`);
    const money = (a) => (a.forecast_low === a.forecast_high ? `$${a.forecast_low}` : `$${a.forecast_low} to $${a.forecast_high}`);
    const used = o.free_base_traces.used;
    const free = o.free_base_traces.allotment;
    box.append(
      el("p", `${o.period} through ${o.through} (${o.days_counted} of ${o.days_in_period} days, UTC), at ${org}'s prices (plan ${o.plan}, price version ${o.price_version}).`, { class: "outlook-head" }),
      el("p", `Cost so far: $${o.total_usd.so_far}, amount due $${o.amount_due_usd.so_far}.`, { class: "so-far", "data-total": o.total_usd.so_far, "data-due": o.amount_due_usd.so_far }),
      el("p", `${count(used)} of ${count(free)} free base traces used.`, { class: "allotment", "data-used": String(used), "data-allotment": String(free) }),
      el("meter", null, { min: "0", max: String(Math.max(1, free)), value: String(used), title: `${count(used)} of ${count(free)} free base traces` }),
      el(
        "p",
        `Forecast for the month: ${range(o.base_traces)} base traces, ${range(o.extended_upgrades)} extended upgrades, a total of ${money(o.total_usd)}, amount due ${money(o.amount_due_usd)}.`,
        { class: "forecast", "data-due-low": o.amount_due_usd.forecast_low, "data-due-high": o.amount_due_usd.forecast_high },
      ),
      el("p", `${o.method} Seats, deployment runs and adjustments ($${o.fixed_usd}) and credits as known now.`, { class: "method help" }),
    );
    $("month").replaceChildren(box);
  }

  // --- invoices --------------------------------------------------------------------------------
  const lineLabel = (l) =>
    l.kind === "credit" ? `credit: ${l.grant_id}` : l.kind === "annual_commitment" ? `annual commitment ${l.usage_period} to ${l.last_period}` : l.kind === "adjustment" ? `adjustment of ${l.usage_period}: ${l.adjusts}` : l.kind === "seat_proration" ? `seat proration: ${l.user_id} from ${l.at}` : l.kind === "seats" ? `seats of ${l.usage_period}${l.user_id ? `: ${l.user_id}` : " (in advance)"}` : l.kind.replaceAll("_", " ");

  async function invoiceBlock(org, period, status) {
    const doc = await json(`/v1/invoices/${encodeURIComponent(org)}/${period}`);
    const box = el("article", null, { class: "invoice", "data-period": period, "data-status": doc.status, "aria-labelledby": `inv-${period}` });
    const h = el("h3", `${period} `, { id: `inv-${period}` });
    h.append(el("span", doc.status === "closed" ? "closed: final" : "open: a preview", { class: `badge ${doc.status}` }));
    box.append(h);
    if (doc.heading) box.append(invoiceHeading(doc));
    const table = el("table", null, { class: "lines" });
    table.append(el("caption", `Invoice of ${org} for ${period}: total $${doc.total_usd}, amount due $${doc.amount_due_usd}`));
    const head = row(["#", "Line", "Quantity", "Free", "Unit price", "Amount"].map((t) => el("th", t, { scope: "col" })));
    if (doc.status === "closed") head.append(el("th", "Sources", { scope: "col" }));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const tbody = el("tbody");
    doc.lines.forEach((l, i) => {
      const credit = l.kind === "credit";
      const tr = row([el("td", i + 1), el("td", lineLabel(l)), credit ? el("td", "") : num(l.quantity), credit ? el("td", "") : num(l.free_quantity ?? 0), el("td", l.unit_price_usd ? `$${l.unit_price_usd}` : "", { class: "num" }), el("td", `$${l.amount_usd}`, { class: "num", "data-value": l.amount_usd })]);
      tr.dataset.kind = l.kind;
      if (doc.status === "closed" && credit) tr.append(el("td"));
      if (doc.status === "closed" && !credit) {
        const td = el("td");
        const b = el("button", "Show sources", { type: "button", class: "secondary", "aria-expanded": "false" });
        b.addEventListener("click", () => toggleSources(b, tr, org, period, i + 1));
        td.append(b);
        tr.append(td);
      }
      tbody.append(tr);
    });
    if (doc.lines.length === 0) tbody.append(row([el("td", "No charges.", { colspan: "6" })]));
    table.append(tbody);
    box.append(table);
    box.append(el("p", `Total: $${doc.total_usd}`, { class: "total", "data-value": doc.total_usd }));
    if (doc.credits_usd !== "0.00") box.append(el("p", `Credits: -$${doc.credits_usd}`, { class: "credits", "data-value": doc.credits_usd }));
    // What a payment system collects: the exact total rounded half up to the cent.
    box.append(el("p", `Amount due: $${doc.amount_due_usd}`, { class: "amount-due", "data-value": doc.amount_due_usd }));
    if (doc.status === "closed") {
      const csv = el("button", `Download ${period} as CSV`, { type: "button", class: "csv" });
      csv.addEventListener("click", () => downloadCsv(org, period).catch((e) => showError(e.message)));
      box.append(csv);
    }
    return box;
  }

  // Dates in the reader's locale, in UTC (the ledger's months and days are UTC), saying so.
  const utcDateTime = (iso) => `${new Date(iso).toLocaleString(undefined, { timeZone: "UTC", dateStyle: "medium", timeStyle: "short" })} UTC`;
  const utcDate = (ms) => new Date(ms).toLocaleDateString(undefined, { timeZone: "UTC", dateStyle: "medium" });
  const timeEl = (iso, text) => el("time", text, { datetime: iso });

  // What a payment system and a reader need first: number, issue date, dates covered, plan and prices, amount due.
  function invoiceHeading(doc) {
    const h = doc.heading;
    const p = el("p", null, { class: "invoice-heading" });
    p.dataset.invoiceId = h.invoice_id;
    p.append(`Invoice ${h.invoice_id}, `);
    if (h.issued_at) p.append("issued ", timeEl(h.issued_at, utcDateTime(h.issued_at)), "; ");
    else p.append("not issued yet (a preview); ");
    // The period's end is exclusive: its last day is the day before.
    p.append("covers ", timeEl(h.period_start, utcDate(Date.parse(h.period_start))), " to ", timeEl(h.period_end, utcDate(Date.parse(h.period_end) - 1)), " (UTC); ");
    p.append(`plan ${h.plan}, price version ${h.price_version}; amount due $${doc.amount_due_usd}.`);
    return p;
  }

  async function toggleSources(button, tr, org, period, n) {
    const open = tr.nextElementSibling && tr.nextElementSibling.classList.contains("sources");
    if (open) {
      tr.nextElementSibling.remove();
      button.setAttribute("aria-expanded", "false");
      button.textContent = "Show sources";
      return;
    }
    const s = await json(`/v1/invoices/${encodeURIComponent(org)}/${period}/lines/${n}/sources`);
    const cols = s.sources.length > 0 ? Object.keys(s.sources[0]) : [];
    const inner = el("table");
    inner.append(el("caption", `${s.sources.length} ledger row(s) behind line ${n}`));
    const head = el("thead");
    head.append(row(cols.map((c) => el("th", c, { scope: "col" }))));
    inner.append(head);
    const body = el("tbody");
    for (const src of s.sources.slice(0, 200)) body.append(row(cols.map((c) => String(src[c]))));
    inner.append(body);
    const holder = el("tr", null, { class: "sources" });
    const td = el("td", null, { colspan: "7" });
    td.append(inner);
    if (s.sources.length > 200) td.append(el("p", `The first 200 of ${s.sources.length} rows; the CSV export and ledger invoice --sources have them all.`));
    holder.append(td);
    tr.after(holder);
    button.setAttribute("aria-expanded", "true");
    button.textContent = "Hide sources";
  }

  async function downloadCsv(org, period) {
    const res = await api(`/v1/invoices/${encodeURIComponent(org)}/${period}?format=csv`);
    const blob = await res.blob();
    const a = el("a", null, { href: URL.createObjectURL(blob), download: `invoice-${org}-${period}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  // Every invoice (monthly, seat and annual) in one table, as GET /v1/invoices/{org} and `ledger invoice --org` list them.
  function invoiceList(invoices) {
    const table = el("table", null, { class: "invoice-list" });
    table.append(el("caption", "All invoices, latest first"));
    const thead = el("thead");
    thead.append(row(["Invoice", "Kind", "Period", "Status", "Issued", "Total", "Credits", "Amount due"].map((t) => el("th", t, { scope: "col" }))));
    const tbody = el("tbody");
    for (const i of invoices) {
      const tr = row([
        el("td", i.invoice_id),
        el("td", i.kind === "annual_commitment" ? "annual commitment" : i.kind === "seats" ? "seats (prorations, late seats)" : "monthly"),
        el("td", i.period),
        el("td", i.status === "closed" ? "final" : "preview"),
        el("td", i.issued_at ?? ""),
        el("td", `$${i.total_usd}`, { class: "num" }),
        el("td", i.credits_usd === "0.00" ? "" : `-$${i.credits_usd}`, { class: "num" }),
        el("td", `$${i.amount_due_usd}`, { class: "num", "data-value": i.amount_due_usd }),
      ]);
      tr.dataset.invoiceId = i.invoice_id;
      tbody.append(tr);
    }
    table.append(thead, tbody);
    return table;
  }

  async function loadInvoices(org) {
    const { periods, invoices } = await json(`/v1/invoices/${encodeURIComponent(org)}`);
    // The latest twelve periods: open ones are previews, closed ones final with their sources.
    const blocks = [];
    for (const p of periods.slice(0, 12)) blocks.push(await invoiceBlock(org, p.period, p.status));
    const open = blocks.filter((b) => b.dataset.status === "open");
    const closed = blocks.filter((b) => b.dataset.status === "closed");
    $("invoices").replaceChildren(
      invoiceList(invoices),
      el("h3", "Open periods (previews)"),
      ...(open.length ? open : [el("p", "No open period.")]),
      el("h3", "Closed periods"),
      ...(closed.length ? closed : [el("p", "No closed invoice yet.")]),
    );
  }

  // §4.1: a month's extended upgrades by cause, largest first, each with its cost; a month picker.
  async function loadUpgrades(org, period) {
    const a = await json(`/v1/usage/upgrades?${new URLSearchParams({ org, period, by: "cause" })}`);
    const picker = el("input", null, { type: "month", value: a.period, "aria-label": "Month of the upgrades" });
    picker.addEventListener("change", () => picker.value && loadUpgrades(org, picker.value).catch((e) => showError(e.message)));
    const table = el("table", null, { class: "upgrade-causes" });
    table.dataset.period = a.period;
    // "Saved if turned off": the upgrades no other trigger of the trace would have made (§4.1).
    table.append(el("caption", `${a.upgrades} extended upgrade(s) in ${a.period}, $${a.cost_usd} at $${a.unit_price_usd} each; "saved if turned off" counts the traces no other rule, queue or feedback key would have upgraded`));
    const thead = el("thead");
    thead.append(row(["Cause", "Upgrades", "Cost", "Saved if turned off"].map((t) => el("th", t, { scope: "col" }))));
    const tbody = el("tbody");
    for (const r of a.rows) {
      const tr = row([
        el("td", r.group),
        el("td", String(r.upgrades), { class: "num", "data-value": String(r.upgrades) }),
        el("td", `$${r.cost_usd}`, { class: "num", "data-value": r.cost_usd }),
        el("td", r.saving_usd === null ? "" : `$${r.saving_usd}`, { class: "num", "data-value": r.saving_usd ?? "" }),
      ]);
      tr.dataset.cause = r.group;
      tbody.append(tr);
    }
    table.append(thead, tbody);
    $("upgrades").replaceChildren(picker, a.rows.length ? table : el("p", `No extended upgrade in ${a.period}.`));
  }

  // Each grant's balance (CR5): what final invoices consumed, what remains, what a void took.
  async function loadCredits(org) {
    const doc = await json(`/v1/credits/${encodeURIComponent(org)}`);
    if (doc.grants.length === 0 && !doc.commitment) {
      $("credits").replaceChildren(el("p", "No credits."));
      return;
    }
    const table = el("table", null, { class: "grants" });
    table.append(el("caption", `Credits of ${org}: granted $${doc.granted_usd}, consumed $${doc.consumed_usd}, remaining $${doc.remaining_usd}, voided $${doc.voided_usd}`));
    const thead = el("thead");
    thead.append(row(["Grant", "Amount", "Periods", "Reason", "Consumed", "Remaining", "Voided"].map((t) => el("th", t, { scope: "col" }))));
    table.append(thead);
    const tbody = el("tbody");
    for (const g of doc.grants) {
      const tr = row([
        el("td", g.grant_id),
        el("td", `$${g.amount_usd}`, { class: "num" }),
        el("td", `${g.first_period} to ${g.last_period ?? "no end"}`),
        el("td", g.reason),
        el("td", `$${g.consumed_usd}`, { class: "num" }),
        el("td", `$${g.remaining_usd}`, { class: "num", "data-value": g.remaining_usd }),
        el("td", g.voided_at === null ? "" : `$${g.voided_usd}`, { class: "num" }),
      ]);
      tr.dataset.grant = g.grant_id;
      tbody.append(tr);
    }
    table.append(tbody);
    $("credits").replaceChildren(...commitmentOf(doc), table, el("p", `Remaining: $${doc.remaining_usd}`, { class: "remaining", "data-value": doc.remaining_usd }));
  }

  // An Enterprise commitment's burndown (AC3): the current term year drawn down by monthly invoices.
  function commitmentOf(doc) {
    const c = doc.commitment;
    if (!c) return [];
    const box = el("div", null, { class: "commitment" });
    box.dataset.termStart = c.term_start;
    const used = Number(c.committed_usd) > 0 ? Math.min(100, (100 * Number(c.consumed_usd)) / Number(c.committed_usd)) : 0;
    box.append(
      el("h3", `Commitment ${c.term_start} to ${c.last_period}`),
      el("p", `Committed $${c.committed_usd}; consumed $${c.consumed_usd}; remaining $${c.remaining_usd}; ${c.months_left} month(s) left.`, { class: "burndown", "data-remaining": c.remaining_usd }),
      el("meter", null, { min: "0", max: "100", value: String(used), title: `${used.toFixed(1)} % consumed` }),
      el(
        "p",
        `At the last 30 days' rate ($${c.rate_usd_per_day} a day), ${c.runs_out === null ? "the commitment lasts the term" : `the commitment runs out in ${c.runs_out}`}.`,
        { class: "runs-out", "data-runs-out": c.runs_out ?? "" },
      ),
    );
    return [box];
  }

  // --- wiring ------------------------------------------------------------------------------------
  async function loadAll() {
    showError("");
    document.body.dataset.state = "loading";
    setStatus("Loading…");
    try {
      const d = await loadDaily();
      $("main").hidden = false;
      await Promise.all([loadOutlook(d.org_id), loadCosts(d.org_id, d.through.slice(0, 7)), loadLimits(d.org_id, d.through.slice(0, 7)), loadInvoices(d.org_id), loadCredits(d.org_id), loadUpgrades(d.org_id, d.through.slice(0, 7))]);
      setStatus(`Showing ${d.org_id}.`);
      document.body.dataset.state = "loaded";
    } catch (error) {
      setStatus("");
      if (!refused(error)) {
        showError(error.message);
        document.body.dataset.state = "failed";
      }
    }
  }

  $("key").value = state.key;
  $("org").value = state.org;
  // The chart again after a switch (its window, or its workspace).
  async function reloadDaily() {
    document.body.dataset.state = "loading";
    try {
      await loadDaily();
      document.body.dataset.state = "loaded";
    } catch (error) {
      if (!refused(error)) showError(error.message);
    }
  }
  for (const r of document.querySelectorAll('input[name="days"]')) {
    r.checked = Number(r.value) === state.days;
    r.addEventListener("change", () => {
      state.days = Number(r.value);
      void reloadDaily();
    });
  }
  $("chart-workspace").addEventListener("change", () => {
    state.workspace = $("chart-workspace").value;
    void reloadDaily();
  });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("key").value.trim();
    state.org = $("org").value.trim();
    sessionStorage.setItem("ledger.usage.key", state.key);
    sessionStorage.setItem("ledger.usage.org", state.org);
    void loadAll();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem("ledger.usage.key");
    state.key = "";
    $("key").value = "";
    $("main").hidden = true;
    setStatus("The key was forgotten.");
  });
  if (state.key) void loadAll();
})();
