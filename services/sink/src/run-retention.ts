import { setTimeout as sleep } from "node:timers/promises";
import { upgradeIdFor } from "@ledger/billing";
import { extendUpgradedRuns, orgsWithRuns, type LedgerClickHouse } from "@ledger/clickhouse";

type TraceRef = { orgId: string; traceId: string; upgradeId: string };

/**
 * R1's upgrade for stored runs: after upgrades are inserted and after runs are inserted, the
 * runs of upgraded traces get their 400-day copies (extendUpgradedRuns). Each side writes, then
 * reads the other, so whichever comes second sees both.
 *
 * Most upgrades are of organizations that never sent a run (the ledger fed by `POST /v1/events`):
 * asking ClickHouse about each upgrade batch cost the embedded engine ~10 % of `pnpm bench`. So
 * the upgrade side skips organizations known to have no runs, where "known" is a ClickHouse
 * answer at most `refreshMs` old. Another sink replica may store an organization's first runs
 * just after that answer; so the replica that stores an organization's first runs (first as far
 * as it knows) checks once more after `refreshMs` and a second, before its offsets commit: by
 * then every replica has either asked again (and sees the runs) or already inserted the upgrade
 * (and the second check sees it).
 */
export class RunRetention {
  private readonly withRuns = new Set<string>();
  private askedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ch: LedgerClickHouse,
    private readonly refreshMs = 2_000,
  ) {}

  /** After upgrades were inserted (JSONEachRow lines with org_id and trace_id). */
  async afterUpgrades(lines: readonly string[]): Promise<void> {
    const traces = tracesOf(lines);
    const orgs = [...new Set(traces.map((t) => t.orgId))];
    if (orgs.some((o) => !this.withRuns.has(o)) && Date.now() - this.askedAt >= this.refreshMs) {
      const askedAt = Date.now();
      for (const org of await orgsWithRuns(this.ch, orgs)) this.withRuns.add(org);
      this.askedAt = askedAt;
    }
    await extendUpgradedRuns(this.ch, traces.filter((t) => this.withRuns.has(t.orgId)));
  }

  /** After runs were inserted. */
  async afterRuns(lines: readonly string[]): Promise<void> {
    const traces = tracesOf(lines);
    const firstRuns = traces.some((t) => !this.withRuns.has(t.orgId));
    for (const t of traces) this.withRuns.add(t.orgId);
    await extendUpgradedRuns(this.ch, traces);
    if (firstRuns) {
      await sleep(this.refreshMs + 1_000);
      await extendUpgradedRuns(this.ch, traces);
    }
  }
}

function tracesOf(lines: readonly string[]): TraceRef[] {
  const traces = new Map<string, TraceRef>();
  for (const line of lines) {
    const { org_id: orgId, trace_id: traceId } = JSON.parse(line) as { org_id: string; trace_id: string };
    traces.set(`${orgId}\u0000${traceId}`, { orgId, traceId, upgradeId: upgradeIdFor(orgId, traceId) });
  }
  return [...traces.values()];
}
