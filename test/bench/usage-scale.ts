import { rmSync } from "node:fs";
import cliProgress from "cli-progress";
import { dayKeyOf, periodKeyOf, previousPeriodKey } from "@ledger/billing";
import type { LedgerStack } from "@ledger/stack";
import { freshStack, sharedEngines, TEST_PLATFORM_KEY } from "../support/engines";
import { ledgerApi } from "../support/ledger-api";
import { unsealedHours } from "@ledger/clickhouse";

/**
 * `pnpm bench --usage`: the usage page's queries at a platform's scale. Billing rows go straight
 * into ClickHouse (INSERT … SELECT FROM numbers(), through the same materialized views as the
 * sink's inserts): one organization with `bigTraces` traces over the last 90 days (10 % upgraded,
 * three workspaces) and 1,000 small ones; the quiet hours are sealed; then rows are re-delivered
 * (the latest traces, two late hours, small organizations', so those hours are counted from their
 * rows) and the page's three reads are timed over HTTP: the 90-day daily series, the open invoice preview, `/v1/usage` for the period.
 * Each answer is compared with a brute-force uniqExact over the raw rows.
 */
export async function usageBench(o: { bigTraces: number; smallOrgs: number; smallTraces: number; repeats: number; say: (line: string) => void }): Promise<Record<string, unknown>> {
  const { say } = o;
  const now = Date.now();
  const today = dayKeyOf(now);
  const firstDayMs = Date.parse(`${today}T00:00:00Z`) - 89 * 86_400_000;
  const period = periodKeyOf(now);
  // The sealer is driven by hand here: quiet for 1 s, never on its own timer.
  const stack: LedgerStack = await freshStack({ label: "usagebench", ingest: true, sealer: { quietMs: 1_000, intervalMs: 3_600_000, batchHours: 100_000 } });
  try {
    const api = ledgerApi(stack.url!, TEST_PLATFORM_KEY);
    await api.org("big", { plan: "plus", payment_method: true, occurred_at: "2020-01-01T00:00:00Z" });
    const ch = stack.clickhouse;
    const spanMs = now - firstDayMs;

    // Trace n of an organization with `count` traces is created at firstDay + n/count of the span.
    const createdSql = (org: string, count: number, from: number, to: number, orgExpr = `'${org}'`, only = "1") => `
      INSERT INTO ${ch.table("trace_events_v1")} (org_id, id, type, occurred_at, period, workspace_id, trace_id, project_id, retention, received_at, kafka_partition, kafka_offset, booked_period)
      SELECT org, concat('c-', toString(number)), 'trace-created', at, formatDateTime(at, '%Y-%m'), concat('ws-', toString(number % 3)), concat(org, '-', toString(number)), concat('p-', toString(number % 7)), 'base', at, 0, number, formatDateTime(at, '%Y-%m')
      FROM (SELECT number, ${orgExpr} AS org, fromUnixTimestamp64Milli(toInt64(${firstDayMs} + intDiv(number * ${spanMs}, ${count})), 'UTC') AS at FROM numbers(${from}, ${to - from}) WHERE ${only})`;
    // Every tenth trace upgraded, up to 6 hours after its creation (not after now), by a rule, a
    // queue or feedback with or without its key, in its creation's project.
    const at = (count: number) => `fromUnixTimestamp64Milli(least(toInt64(${firstDayMs} + intDiv(number * ${spanMs}, ${count}) + (number % 7) * 3600000), ${now - 1}), 'UTC')`;
    const upgradeSql = (org: string, count: number, from: number, to: number, orgExpr = `'${org}'`, only = "1") => `
      INSERT INTO ${ch.table("retention_upgrades_v1")} (org_id, id, occurred_at, period, workspace_id, trace_id, cause_type, cause_event_id, cause_source, project_id, received_at, booked_period)
      SELECT org, concat('u-', toString(number)), at, formatDateTime(at, '%Y-%m'), concat('ws-', toString(number % 3)), concat(org, '-', toString(number)),
             ['rule-matched', 'queue-added', 'feedback-added', 'feedback-added'][intDiv(number, 10) % 4 + 1], concat('g-', toString(number)),
             [concat('rule:r-', toString(number % 3)), 'queue:q-1', 'feedback:correctness', 'feedback'][intDiv(number, 10) % 4 + 1], concat('p-', toString(number % 7)),
             at, formatDateTime(at, '%Y-%m')
      FROM (SELECT number, ${orgExpr} AS org, ${at(count)} AS at FROM numbers(${from}, ${to - from}) WHERE number % 10 = 0 AND ${only})`;
    // A third of the upgraded traces also had a trigger of another source (what the upgrader reports).
    const alternativeSql = (org: string, count: number, from: number, to: number) => `
      INSERT INTO ${ch.table("upgrade_alternatives_v1")} (org_id, upgraded_period, workspace_id, trace_id, event_id, type, source, cause, occurred_at, upgraded_at)
      SELECT '${org}', formatDateTime(at, '%Y-%m'), concat('ws-', toString(number % 3)), concat('${org}-', toString(number)), concat('a-', toString(number)), 'queue-added', 'queue:q-9',
             [concat('rule:r-', toString(number % 3)), 'queue:q-1', 'feedback:correctness', 'feedback'][intDiv(number, 10) % 4 + 1], at, at
      FROM (SELECT number, ${at(count)} AS at FROM numbers(${from}, ${to - from}) WHERE number % 30 = 0)`;

    const t0 = performance.now();
    const chunk = 2_000_000;
    const bar = new cliProgress.SingleBar({ format: "bench: inserting [{bar}] {value}/{total} traces", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(o.bigTraces + o.smallOrgs * o.smallTraces, 0);
    for (let from = 0; from < o.bigTraces; from += chunk) {
      const to = Math.min(o.bigTraces, from + chunk);
      await ch.client.command({ query: createdSql("big", o.bigTraces, from, to) });
      await ch.client.command({ query: upgradeSql("big", o.bigTraces, from, to) });
      await ch.client.command({ query: alternativeSql("big", o.bigTraces, from, to) });
      bar.update(to);
    }
    const small = o.smallOrgs * o.smallTraces;
    const smallOrg = `concat('small-', toString(number % ${o.smallOrgs}))`;
    await ch.client.command({ query: createdSql("small", small, 0, small, smallOrg) });
    await ch.client.command({ query: upgradeSql("small", small, 0, small, smallOrg) });
    bar.update(o.bigTraces + small);
    bar.stop();
    const insertS = (performance.now() - t0) / 1000;
    say(`inserted ${o.bigTraces.toLocaleString("en-US")} + ${small.toLocaleString("en-US")} traces in ${insertS.toFixed(1)} s`);

    // Seal every quiet day (all of them: nothing arrives while the bench waits 1 s).
    await new Promise((r) => setTimeout(r, 1_100));
    const t1 = performance.now();
    const sealedHours = await stack.sealer!.round();
    const sealS = (performance.now() - t1) / 1000;
    say(`sealed ${sealedHours} (org, workspace, hour) rollups in ${sealS.toFixed(1)} s`);

    // The inserts leave background merges of tens of millions of rows behind; a platform's
    // ClickHouse is timed in its steady state, so wait for them (and say how long).
    const t3 = performance.now();
    for (;;) {
      const rs = await ch.client.query({ query: `SELECT count() AS n, sum(total_size_bytes_compressed) AS bytes FROM system.merges WHERE database = {db:String}`, query_params: { db: ch.database }, format: "JSONEachRow" });
      const [m] = (await rs.json()) as { n: string | number; bytes: string | number }[];
      if (Number(m!.n) === 0) break;
      say(`waiting for ${m!.n} background merge(s) of ${(Number(m!.bytes) / 1e6).toFixed(0)} MB`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
    const mergeWaitS = (performance.now() - t3) / 1000;

    // Re-deliveries after the seal, as they happen: the sink re-delivers the tail it had not
    // committed (the last 0.5 % of the big organization's traces, today's latest), an API-tier
    // replica flushes a late hour (an hour 10 days ago and one 40 days ago, all of it again), and
    // every tenth small organization's rows come twice. Their hours are counted from their rows,
    // each trace once.
    const tracesIn = (fromMs: number, toMs: number) =>
      [Math.max(0, Math.floor(((fromMs - firstDayMs) * o.bigTraces) / spanMs)), Math.min(o.bigTraces, Math.ceil(((toMs - firstDayMs) * o.bigTraces) / spanMs))] as const;
    const hourAgo = (days: number) => Math.floor((now - days * 86_400_000) / 3_600_000) * 3_600_000;
    const redeliver: (readonly [number, number])[] = [
      [Math.floor(o.bigTraces * 0.995), o.bigTraces],
      tracesIn(hourAgo(10), hourAgo(10) + 3_600_000),
      tracesIn(hourAgo(40), hourAgo(40) + 3_600_000),
    ];
    for (const [from, to] of redeliver) {
      await ch.client.command({ query: createdSql("big", o.bigTraces, from, to) });
      await ch.client.command({ query: upgradeSql("big", o.bigTraces, from, to) });
    }
    await ch.client.command({ query: createdSql("small", small, 0, small, smallOrg, "number % 10 = 0") });
    const redelivered = redeliver.reduce((n, [from, to]) => n + to - from, 0);
    const rawHours = await unsealedHours(stack.clickhouse);
    say(`re-delivered ${redelivered.toLocaleString("en-US")} of the big organization's traces and ${(small / 10).toLocaleString("en-US")} small ones: ${rawHours} (org, workspace, hour) now counted from their rows`);

    // The page's reads, timed over HTTP as the page makes them.
    const timed = async (path: string) => {
      const times: number[] = [];
      let body: any;
      for (let i = 0; i < o.repeats; i++) {
        const s = performance.now();
        const r = await api.call("GET", path, TEST_PLATFORM_KEY);
        times.push(performance.now() - s);
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
        body = r.body;
      }
      times.sort((a, b) => a - b);
      return { body, medianMs: Math.round(times[Math.floor(times.length / 2)]!), maxMs: Math.round(times.at(-1)!) };
    };
    const daily = await timed(`/v1/usage/daily?org=big&days=90`);
    const preview = await timed(`/v1/invoices/big/${period}`);
    const usage = await timed(`/v1/usage?org=big&from=${period}&to=${period}`);
    // The previous period too: a whole month of the big organization, its newest hours unsealed.
    const previous = previousPeriodKey(period);
    const usagePrevious = await timed(`/v1/usage?org=big&from=${previous}&to=${previous}`);
    const smallDaily = await timed(`/v1/usage/daily?org=small-7&days=90`);
    // §4.1–4.3: attribution with what turning a cause off would save, the forecast, the cost per project.
    const attribution = await timed(`/v1/usage/upgrades?org=big&period=${period}&by=cause`);
    const attributionPrevious = await timed(`/v1/usage/upgrades?org=big&period=${previous}&by=cause`);
    const outlook = await timed(`/v1/usage/outlook?org=big`);
    const costs = await timed(`/v1/usage/costs?org=big&period=${period}&by=project`);
    const costsPrevious = await timed(`/v1/usage/costs?org=big&period=${previous}&by=project`);

    // Brute force over the raw rows: uniqExact per day and per period.
    const brute = async (org: string) => {
      const rs = await ch.client.query({
        query: `SELECT toString(day) AS day, sum(b) AS base, sum(u) AS up FROM (
                  SELECT toDate(occurred_at, 'UTC') AS day, uniqExact(trace_id) AS b, toUInt64(0) AS u FROM ${ch.table("trace_events_v1")} WHERE org_id = {org:String} AND type = 'trace-created' GROUP BY day
                  UNION ALL SELECT toDate(occurred_at, 'UTC') AS day, toUInt64(0), uniqExact(trace_id) FROM ${ch.table("retention_upgrades_v1")} WHERE org_id = {org:String} GROUP BY day)
                GROUP BY day ORDER BY day`,
        query_params: { org },
        format: "JSONEachRow",
      });
      return ((await rs.json()) as { day: string; base: string | number; up: string | number }[]).map((r) => ({ day: r.day, base: Number(r.base), up: Number(r.up) }));
    };
    const t2 = performance.now();
    const bigBrute = await brute("big");
    const bruteMs = Math.round(performance.now() - t2);
    const asSeries = (rows: { day: string; base: number; up: number }[], series: { day: string }[]) => {
      const m = new Map(rows.map((r) => [r.day, r]));
      return series.map((p) => ({ day: p.day, base_traces: m.get(p.day)?.base ?? 0, extended_upgrades: m.get(p.day)?.up ?? 0 }));
    };
    const dailyExact = JSON.stringify(daily.body.series) === JSON.stringify(asSeries(bigBrute, daily.body.series));
    const smallExact = JSON.stringify(smallDaily.body.series) === JSON.stringify(asSeries(await brute("small-7"), smallDaily.body.series));
    const periodBrute = bigBrute.filter((r) => r.day.startsWith(period)).reduce((s, r) => ({ base: s.base + r.base, up: s.up + r.up }), { base: 0, up: 0 });
    const usageRow = usage.body.rows[0] ?? { base_traces: 0, extended_upgrades: 0 };
    const previousBrute = bigBrute.filter((r) => r.day.startsWith(previous)).reduce((s, r) => ({ base: s.base + r.base, up: s.up + r.up }), { base: 0, up: 0 });
    const previousRow = usagePrevious.body.rows[0] ?? { base_traces: 0, extended_upgrades: 0 };
    const usageExact =
      usageRow.base_traces === periodBrute.base && usageRow.extended_upgrades === periodBrute.up && previousRow.base_traces === previousBrute.base && previousRow.extended_upgrades === previousBrute.up;
    const line = (kind: string) => preview.body.lines.find((l: { kind: string; usage_period?: string }) => l.kind === kind);
    const previewExact = (line("base_traces")?.quantity ?? 0) === periodBrute.base && (line("extended_upgrades")?.quantity ?? 0) === periodBrute.up;
    const totalRows = bigBrute.reduce((s, r) => s + r.base, 0);

    // Each against a brute-force count over the raw rows, so the timing is of right answers: upgrades
    // and what turning each cause off saves (those without an alternative), base traces and
    // upgrades per project.
    const bruteRows = async (query: string, p: string) => {
      const rs = await ch.client.query({ query, query_params: { org: "big", p }, format: "JSONEachRow" });
      return Object.fromEntries(((await rs.json()) as { k: string; n: string | number }[]).map((r) => [r.k, Number(r.n)]));
    };
    const label = (source: string) => (source === "feedback" ? "feedback, key not given" : source);
    const attributionExactFor = async (body: { upgrades: number; rows: { group: string; upgrades: number; sole_upgrades: number | null }[] }, p: string) => {
      const upgrades = await bruteRows(`SELECT cause_source AS k, uniqExact(trace_id) AS n FROM ${ch.table("retention_upgrades_v1")} WHERE org_id = {org:String} AND period = {p:String} GROUP BY k`, p);
      const sole = await bruteRows(
        `SELECT cause_source AS k, uniqExact(trace_id) AS n FROM ${ch.table("retention_upgrades_v1")} WHERE org_id = {org:String} AND period = {p:String}
           AND (workspace_id, trace_id) NOT IN (SELECT workspace_id, trace_id FROM ${ch.table("upgrade_alternatives_v1")} WHERE org_id = {org:String} AND upgraded_period = {p:String}) GROUP BY k`,
        p,
      );
      const expected = Object.entries(upgrades).map(([k, n]) => ({ group: label(k), upgrades: n, sole_upgrades: k === "feedback" ? null : (sole[k] ?? 0) }));
      const got = body.rows.map((r) => ({ group: r.group, upgrades: r.upgrades, sole_upgrades: r.sole_upgrades }));
      const key = (r: { group: string }) => r.group;
      return JSON.stringify([...expected].sort((a, b) => (key(a) < key(b) ? -1 : 1))) === JSON.stringify([...got].sort((a, b) => (key(a) < key(b) ? -1 : 1)));
    };
    const costsExactFor = async (body: { rows: { group: string; base_traces: number; extended_upgrades: number }[] }, p: string) => {
      const base = await bruteRows(`SELECT project_id AS k, uniqExact(trace_id) AS n FROM ${ch.table("trace_events_v1")} WHERE org_id = {org:String} AND period = {p:String} AND type = 'trace-created' GROUP BY k`, p);
      const up = await bruteRows(`SELECT project_id AS k, uniqExact(trace_id) AS n FROM ${ch.table("retention_upgrades_v1")} WHERE org_id = {org:String} AND period = {p:String} GROUP BY k`, p);
      return body.rows.length === Object.keys(base).length && body.rows.every((r) => r.base_traces === base[r.group] && r.extended_upgrades === (up[r.group] ?? 0));
    };
    const attributionExact = (await attributionExactFor(attribution.body, period)) && (await attributionExactFor(attributionPrevious.body, previous));
    const costsExact = (await costsExactFor(costs.body, period)) && (await costsExactFor(costsPrevious.body, previous));
    const result = {
      mode: "usage",
      big_org_traces: totalRows,
      small_orgs: o.smallOrgs,
      small_org_traces: o.smallTraces,
      days: 90,
      insert_s: Number(insertS.toFixed(1)),
      seal_s: Number(sealS.toFixed(1)),
      merge_wait_s: Number(mergeWaitS.toFixed(1)),
      sealed_hours: sealedHours,
      raw_hours_at_read: rawHours,
      daily_90d_ms: { median: daily.medianMs, max: daily.maxMs },
      open_invoice_preview_ms: { median: preview.medianMs, max: preview.maxMs },
      usage_period_ms: { median: usage.medianMs, max: usage.maxMs },
      usage_previous_period_ms: { median: usagePrevious.medianMs, max: usagePrevious.maxMs },
      small_org_daily_ms: { median: smallDaily.medianMs, max: smallDaily.maxMs },
      upgrade_attribution_ms: { median: attribution.medianMs, max: attribution.maxMs },
      upgrade_attribution_previous_ms: { median: attributionPrevious.medianMs, max: attributionPrevious.maxMs },
      outlook_ms: { median: outlook.medianMs, max: outlook.maxMs },
      costs_by_project_ms: { median: costs.medianMs, max: costs.maxMs },
      costs_by_project_previous_ms: { median: costsPrevious.medianMs, max: costsPrevious.maxMs },
      brute_force_daily_ms: bruteMs,
      daily_exact: dailyExact,
      small_org_daily_exact: smallExact,
      usage_exact: usageExact,
      preview_exact: previewExact,
      attribution_exact: attributionExact,
      costs_exact: costsExact,
      under_1s: [daily, preview, usage, usagePrevious].every((t) => t.maxMs < 1_000),
      explaining_reads_median_under_1s: [attribution, attributionPrevious, outlook, costs, costsPrevious].every((t) => t.medianMs < 1_000),
    };
    say(`90-day daily series: median ${daily.medianMs} ms, max ${daily.maxMs} ms (brute force ${bruteMs} ms); exact: ${dailyExact}`);
    say(`open invoice preview ${period}: median ${preview.medianMs} ms, max ${preview.maxMs} ms; exact: ${previewExact}`);
    say(`/v1/usage ${period}: median ${usage.medianMs} ms, max ${usage.maxMs} ms; ${previous}: median ${usagePrevious.medianMs} ms, max ${usagePrevious.maxMs} ms; exact: ${usageExact}`);
    say(`a small organization's daily series: median ${smallDaily.medianMs} ms; exact: ${smallExact}`);
    say(`upgrade attribution by cause with savings ${period}: median ${attribution.medianMs} ms, max ${attribution.maxMs} ms; ${previous}: median ${attributionPrevious.medianMs} ms, max ${attributionPrevious.maxMs} ms; exact: ${attributionExact}`);
    say(`the month so far and its forecast: median ${outlook.medianMs} ms, max ${outlook.maxMs} ms`);
    say(`cost by project ${period}: median ${costs.medianMs} ms, max ${costs.maxMs} ms; ${previous}: median ${costsPrevious.medianMs} ms, max ${costsPrevious.maxMs} ms; exact: ${costsExact}`);
    return result;
  } finally {
    await stack.stop();
    // The chDB directory of this process (gigabytes at full scale).
    const dir = (await sharedEngines()).dataDir;
    if (process.env.LEDGER_BENCH_KEEP_DATA) say(`kept ${dir} (database ${stack.clickhouse.database})`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
