import { ingestGate, isLegacy, planLimitsOf } from "@ledger/accounts";
import { formatUsd, limitUsdMicros, planPricesOf, type PlanPricesJson } from "@ledger/billing";
import { limitChecks, RATE_LIMITS, type Clock, type LimitCheck, type RateClass } from "@ledger/limits";
import type { AccountCache } from "../auth/account-cache";
import type { Admission } from "./admission";

/**
 * An organization's limits with their current counts (§6): its plan's, each workspace's (or one
 * workspace's), and, for the admin API, each live key's rate classes.
 */
export async function limitsOf(deps: { accounts: AccountCache; admission: Admission; clock: Clock }, orgId: string, wsFilter: string | undefined, withKeys: boolean) {
  const directory = deps.accounts.current;
  const workspaces = wsFilter !== undefined ? [wsFilter] : directory.workspacesOf(orgId).map((w) => w.workspaceId);
  const now = deps.clock.now();
  const common = { nowMs: now, plan: () => planLimitsOf(directory.org(orgId), now), workspace: (o: string, w: string) => directory.workspace(o, w) };
  const charge = (workspaceId: string) => ({ orgId, workspaceId, eventId: "", bytes: 0, createsTrace: "", extendsTrace: "" });
  // Plan limits once, then each workspace's, then each live key's rate classes.
  const checks: LimitCheck[] = limitChecks({ ...common, charges: [charge(workspaces[0] ?? "-")] }).filter((c) => workspaces.length > 0 || c.limit.startsWith("plan:"));
  for (const ws of workspaces.slice(1)) checks.push(...limitChecks({ ...common, charges: [charge(ws)] }).filter((c) => c.limit.startsWith("workspace:")));
  const ordered = [...checks];
  for (const key of withKeys ? directory.keys(orgId).filter((k) => !k.revoked && (wsFilter === undefined || k.workspaceId === wsFilter)) : []) {
    for (const cls of Object.keys(RATE_LIMITS) as RateClass[]) {
      ordered.push(...limitChecks({ ...common, rate: { keyId: key.keyId, orgId, class: cls }, charges: [] }));
    }
  }
  const counts = await deps.admission.current(ordered);
  return {
    org_id: orgId,
    plan: directory.org(orgId).plan,
    payment_method: directory.org(orgId).paymentMethod,
    kind: directory.org(orgId).kind,
    legacy: isLegacy(directory.org(orgId)),
    // What G1 and G2 say of ingest for this organization, before any request is made.
    ingest_refusal: ingestGate(directory, [], orgId)?.message ?? null,
    workspaces,
    limits: ordered.map((c, i) => ({
      limit: c.limit,
      ...c.scope,
      limit_value: c.value,
      current: counts[i]!.current,
      resets_at: counts[i]!.resetsAtMs === null ? null : new Date(counts[i]!.resetsAtMs!).toISOString(),
    })),
  };
}

/**
 * §6.3 in dollars: each workspace limit with what reaching it would cost at the organization's
 * current prices (all traces past the free allotment, extended traces at the upgrade price).
 */
export function withLimitDollars<T extends { limits: { limit: string; limit_value: number | null }[] }>(view: T, prices: PlanPricesJson) {
  const p = planPricesOf(prices);
  return {
    ...view,
    prices,
    limits: view.limits.map((l) =>
      (l.limit === "workspace:all_traces" || l.limit === "workspace:extended_traces") && l.limit_value !== null
        ? { ...l, limit_usd: formatUsd(limitUsdMicros(l.limit === "workspace:all_traces" ? "all_traces" : "extended_traces", l.limit_value, p)) }
        : l,
    ),
  };
}
