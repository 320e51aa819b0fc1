import type { PlanLimits } from "@ledger/accounts";
import { calendarMonth, clockHour, previousWindow, retryAfterSeconds, type LimitWindow } from "./window";
import { RATE_LIMITS, RATE_WINDOW_MS, type RateClass } from "./rate-class";

/** How often monthly trace counters are rebuilt from ClickHouse (see DistinctCheck). */
export const TRACE_COUNTER_REBUILD_MS = 60_000;

/** The limits of §6.4, in the order they are checked and reported. */
export const LIMIT_ORDER = [
  "rate:sessions_delete",
  "rate:runs",
  "rate:feedback",
  "rate:other",
  "plan:events_per_hour",
  "plan:bytes_per_hour",
  "plan:traces_per_month",
  "workspace:all_traces",
  "workspace:extended_traces",
] as const;
export type LimitName = (typeof LIMIT_ORDER)[number];

export interface LimitScope {
  key_id?: string;
  org_id?: string;
  workspace_id?: string;
}

/** What one event of a request adds to the counters (§6.2, §6.3). */
export interface EventCharge {
  orgId: string;
  workspaceId: string;
  /** The idempotency key: a retried or duplicated event is counted once. */
  eventId: string;
  bytes: number;
  /** Set on a trace creation: the trace it creates. */
  createsTrace?: string;
  /** Set on what could make a trace extended: an extended creation or a trigger. */
  extendsTrace?: string;
  /** false for what is not an event of §6.2 (feedback, queue entries on the LangSmith API). */
  countsAsEvent?: boolean;
}

/** What ClickHouse counts when a counter has to be rebuilt (Redis started empty, or is away). */
export interface SeedQuery {
  count: "events" | "traces" | "upgrades";
  orgId: string;
  workspaceId?: string;
  /** By the ledger's clock at arrival (`received_at`), like the counters themselves. */
  fromMs: number;
  toMs: number;
}

interface CheckBase {
  limit: LimitName;
  scope: LimitScope;
  /** Logical counter name; the counter store adds its own prefix. */
  counter: string;
  /** null: counted (another check needs it) but not limited. */
  value: number | null;
}

/** A fixed window per key and class, opened by the first request (§6.1); every request counts 1. */
export interface RateCheck extends CheckBase {
  kind: "rate";
  windowMs: number;
}

/** Distinct members in a window (events by id, traces by id); a member already counted in this or the previous window adds nothing. */
export interface DistinctCheck extends CheckBase {
  kind: "distinct";
  previous: string;
  members: string[];
  window: LimitWindow;
  seed: SeedQuery;
  /**
   * Rebuild from ClickHouse again after this long (a union: harmless). Monthly trace counters
   * use it so that what a replica admitted before it learned of a new limit, or what was admitted
   * uncounted while Redis was away, is counted within a minute of reaching ClickHouse.
   */
  rebuildEveryMs: number | null;
}

/** A sum of weights over the members that a distinct check finds new (bytes of new events). */
export interface SumCheck extends CheckBase {
  kind: "sum";
  /** Index of the distinct check whose new members are weighed. */
  of: number;
  weights: number[];
  window: LimitWindow;
}

export type LimitCheck = RateCheck | DistinctCheck | SumCheck;

export interface LimitRequest {
  nowMs: number;
  /** The key's rate limit; absent for the platform key (§6.1). */
  rate?: { keyId: string; orgId: string; class: RateClass };
  charges: readonly EventCharge[];
  plan: (orgId: string) => PlanLimits;
  workspace: (orgId: string, workspaceId: string) => { allTracesLimit: number | null; extendedTracesLimit: number | null };
}

const group = <T>(items: readonly T[], key: (t: T) => string) => {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(item);
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
};
const sep = "\u0000";

/**
 * Every counter a request touches, in the order of §6.4: the key's rate, then per organization
 * events, bytes and traces of the plan, then per workspace all traces and extended traces.
 * Counters without a limit are left out, except the events of an hour when only bytes are
 * limited (the bytes of an event are added once, when its id is new).
 */
export function limitChecks(req: LimitRequest): LimitCheck[] {
  const checks: LimitCheck[] = [];
  const hour = clockHour(req.nowMs);
  const month = calendarMonth(req.nowMs);
  const prevHour = previousWindow(hour, clockHour);
  const prevMonth = previousWindow(month, calendarMonth);
  if (req.rate) {
    const { keyId, orgId } = req.rate;
    checks.push({
      kind: "rate",
      limit: `rate:${req.rate.class}`,
      scope: { key_id: keyId, org_id: orgId },
      counter: `rate:${keyId}:${req.rate.class}`,
      value: RATE_LIMITS[req.rate.class],
      windowMs: RATE_WINDOW_MS,
    });
  }
  const byOrg = group(req.charges, (c) => c.orgId);
  const orgChecks: LimitCheck[][] = [[], [], []];
  for (const [orgId, all] of byOrg) {
    const plan = req.plan(orgId);
    const charges = all.filter((c) => c.countsAsEvent !== false);
    const scope = { org_id: orgId };
    if (plan.eventsPerHour !== null || plan.bytesPerHour !== null) {
      orgChecks[0]!.push({
        kind: "distinct",
        limit: "plan:events_per_hour",
        scope,
        counter: `events:${orgId}:${hour.key}`,
        previous: `events:${orgId}:${prevHour.key}`,
        value: plan.eventsPerHour,
        members: charges.map((c) => c.eventId),
        window: hour,
        seed: { count: "events", orgId, fromMs: hour.startMs, toMs: hour.endMs },
        rebuildEveryMs: null,
      });
    }
    if (plan.bytesPerHour !== null) {
      orgChecks[1]!.push({
        kind: "sum",
        limit: "plan:bytes_per_hour",
        scope,
        counter: `bytes:${orgId}:${hour.key}`,
        value: plan.bytesPerHour,
        of: -1, // resolved below, once the events check has its index
        weights: charges.map((c) => c.bytes),
        window: hour,
      });
    }
    if (plan.tracesPerMonth !== null) {
      orgChecks[2]!.push(traceCheck("plan:traces_per_month", scope, `traces:${orgId}`, plan.tracesPerMonth, all, "createsTrace", month, prevMonth, "traces"));
    }
  }
  const eventsIndex = new Map<string, number>();
  for (const c of orgChecks[0]!) {
    eventsIndex.set(c.scope.org_id!, checks.length);
    checks.push(c);
  }
  for (const c of orgChecks[1]!) checks.push({ ...(c as SumCheck), of: eventsIndex.get(c.scope.org_id!)! });
  checks.push(...orgChecks[2]!);

  const byWorkspace = group(req.charges, (c) => c.orgId + sep + c.workspaceId);
  const all: LimitCheck[] = [];
  const extended: LimitCheck[] = [];
  for (const [, charges] of byWorkspace) {
    const { orgId, workspaceId } = charges[0]!;
    const ws = req.workspace(orgId, workspaceId);
    const scope = { org_id: orgId, workspace_id: workspaceId };
    const name = `${orgId}:${workspaceId}`;
    if (ws.allTracesLimit !== null) {
      all.push(traceCheck("workspace:all_traces", scope, `ws-traces:${name}`, ws.allTracesLimit, charges, "createsTrace", month, prevMonth, "traces"));
    }
    if (ws.extendedTracesLimit !== null) {
      extended.push(traceCheck("workspace:extended_traces", scope, `ws-extended:${name}`, ws.extendedTracesLimit, charges, "extendsTrace", month, prevMonth, "upgrades"));
    }
  }
  return [...checks, ...all, ...extended];
}

function traceCheck(
  limit: LimitName,
  scope: LimitScope,
  name: string,
  value: number,
  charges: readonly EventCharge[],
  field: "createsTrace" | "extendsTrace",
  month: LimitWindow,
  prevMonth: LimitWindow,
  count: SeedQuery["count"],
): DistinctCheck {
  return {
    kind: "distinct",
    limit,
    scope,
    counter: `${name}:${month.key}`,
    previous: `${name}:${prevMonth.key}`,
    value,
    members: charges.flatMap((c) => (c[field] !== undefined ? [c[field]!] : [])),
    window: month,
    seed: { count, orgId: scope.org_id!, ...(scope.workspace_id ? { workspaceId: scope.workspace_id } : {}), fromMs: month.startMs, toMs: month.endMs },
    rebuildEveryMs: TRACE_COUNTER_REBUILD_MS,
  };
}

/** A refused request (§6.4): which limit, its value, the count, what the request would add. */
export interface LimitRefusal {
  limit: LimitName;
  scope: LimitScope;
  limitValue: number;
  current: number;
  requested: number;
  resetsAtMs: number;
}

/** The first check (in order) that admitting the request would take past its limit, or null. */
export function firstRefusal(
  checks: readonly LimitCheck[],
  counts: (i: number) => { current: number; requested: number; resetsAtMs: number },
): LimitRefusal | null {
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!;
    if (check.value === null) continue;
    const { current, requested, resetsAtMs } = counts(i);
    if (requested > 0 && current + requested > check.value) {
      return { limit: check.limit, scope: check.scope, limitValue: check.value, current, requested, resetsAtMs };
    }
  }
  return null;
}

/** The 429 body of §6.4; `Retry-After` carries `retry_after_s`. */
export function refusalBody(r: LimitRefusal, nowMs: number) {
  return {
    error: "limit_exceeded" as const,
    message: `${r.limit} would be exceeded: ${r.current} counted + ${r.requested} in this request > limit ${r.limitValue}; it resets at ${new Date(r.resetsAtMs).toISOString()}`,
    limit: r.limit,
    ...r.scope,
    limit_value: r.limitValue,
    current: r.current,
    requested: r.requested,
    resets_at: new Date(r.resetsAtMs).toISOString(),
    retry_after_s: retryAfterSeconds(r.resetsAtMs, nowMs),
  };
}
