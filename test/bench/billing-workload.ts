import { billingKey } from "@ledger/events";
import { formatUsd, microsOfUsd, periodFromKey, type UsageRow } from "@ledger/billing";

/**
 * The bench's billing events (§10.2) and what a naive reading of §10 bills for them: per
 * organization, seats added and removed around the month boundary, and deployment runs (some
 * delivered twice, some repeated under the same run_id). Deterministic.
 */
export type BillingWireEvent = Record<string, string>;
const DAY = 86_400_000;

export function billingWorkload(orgs: readonly string[], runsPerOrg: number, boundary = "2024-07-01T00:00:00Z"): BillingWireEvent[] {
  const start = Date.parse(boundary) - 45 * DAY;
  let x = 7;
  const random = () => ((x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  const out: { at: number; e: BillingWireEvent }[] = [];
  for (const org of orgs) {
    for (let u = 0; u < 12; u++) {
      const added = start + Math.floor(random() * 55 * DAY);
      out.push({ at: added, e: { id: `${org}-seat-${u}-a`, type: "seat-added", occurred_at: new Date(added).toISOString(), org_id: org, user_id: `u${u}` } });
      if (random() < 0.3) {
        const removed = added + Math.floor(random() * 20 * DAY);
        out.push({ at: removed, e: { id: `${org}-seat-${u}-r`, type: "seat-removed", occurred_at: new Date(removed).toISOString(), org_id: org, user_id: `u${u}` } });
      }
    }
    for (let r = 0; r < runsPerOrg; r++) {
      const at = Date.parse(boundary) - 10 * DAY + Math.floor(random() * 20 * DAY);
      // One in ten runs has a second event under the same run_id (DR1: still one run).
      const run = random() < 0.1 && r > 0 ? `run-${r - 1}` : `run-${r}`;
      out.push({ at, e: { id: `${org}-dr-${r}`, type: "deployment-run", occurred_at: new Date(at).toISOString(), org_id: org, workspace_id: "ws-0", deployment_id: `dep-${r % 4}`, run_id: run } });
    }
  }
  out.sort((a, b) => a.at - b.at);
  return out.map((o) => o.e);
}

export const billingEventKey = (e: BillingWireEvent) => billingKey(e as { type: string; org_id: string; run_id?: string });

const PLUS = { base: 500n, upgrade: 4_500n, run: 5_000n, seat: microsOfUsd("39.00"), free: 10_000n };

/**
 * What a Plus organization's usage of a period costs with every event known (a naive reading of
 * §10): base traces past the allotment, upgrades, deployment runs. Seats are not usage: they are
 * billed in advance and on seat invoices (SA1, SA2), checked by `seatCharges`.
 */
export function referenceAmount(org: string, period: string, usage: readonly UsageRow[], billing: readonly BillingWireEvent[]): string {
  const rows = usage.filter((r) => r.org_id === org && r.period === period);
  const base = BigInt(rows.reduce((s, r) => s + r.base_traces, 0));
  const upgrades = BigInt(rows.reduce((s, r) => s + r.extended_upgrades, 0));
  const free = base < PLUS.free ? base : PLUS.free;
  let micros = (base - free) * PLUS.base + upgrades * PLUS.upgrade;
  // DR1: a run counts in the period of its first event in log order.
  const firstOf = new Map<string, string>();
  for (const e of billing) if (e.org_id === org && e.type === "deployment-run" && !firstOf.has(e.run_id!)) firstOf.set(e.run_id!, e.occurred_at!.slice(0, 7));
  micros += BigInt([...firstOf.values()].filter((p) => p === period).length) * PLUS.run;
  return formatUsd(micros);
}

/**
 * SE1–SE3 read naively per user: the users charged for a period (present at its first instant,
 * or added during it), and those present at its first instant.
 */
export function seatCharges(org: string, period: string, billing: readonly BillingWireEvent[]): { charged: string[]; atStart: string[] } {
  const { startMs, endMs } = periodFromKey(period);
  const seats = billing.filter((e) => e.org_id === org && e.type !== "deployment-run");
  const charged: string[] = [];
  const atStart: string[] = [];
  for (const user of new Set(seats.map((e) => e.user_id!))) {
    const mine = seats.filter((e) => e.user_id === user);
    const present = mine.filter((e) => Date.parse(e.occurred_at!) < startMs).at(-1)?.type === "seat-added";
    if (present) atStart.push(user);
    if (present || mine.some((e) => e.type === "seat-added" && Date.parse(e.occurred_at!) >= startMs && Date.parse(e.occurred_at!) < endMs)) charged.push(user);
  }
  return { charged: charged.sort(), atStart: atStart.sort() };
}
