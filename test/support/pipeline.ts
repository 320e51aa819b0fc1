import { referenceLedger, type ReferenceEvent, type UsageRow } from "@ledger/billing";
import { queryUsage } from "@ledger/clickhouse";
import { validateBatch, type InputEvent } from "@ledger/events";
import type { LedgerStack } from "@ledger/stack";

/** (org, workspace, period, base_traces, extended_upgrades): compact expectations. */
export type Tuple = [string, string, string, number, number];

export const tuples = (rows: readonly UsageRow[]): Tuple[] =>
  rows.map((r) => [r.org_id, r.workspace_id ?? "", r.period, r.base_traces, r.extended_upgrades]);

/** Publishes raw events in order (validated like ingest), waits for the views, reads them back. */
export async function billThroughPipeline(stack: LedgerStack, raw: readonly object[], chunk = 500): Promise<Tuple[]> {
  const events = validateBatch(raw);
  for (let i = 0; i < events.length; i += chunk) await stack.publisher.publish(events.slice(i, i + chunk));
  await stack.waitUntilDrained({ timeoutMs: 120_000 });
  return tuples(await queryUsage(stack.clickhouse, { by: "workspace" }));
}

export function toReference(e: InputEvent): ReferenceEvent {
  return {
    id: e.id,
    type: e.type,
    occurredAtMs: Date.parse(e.occurred_at),
    orgId: e.org_id,
    workspaceId: e.workspace_id,
    traceId: e.trace_id,
    ...(e.type === "trace-created" ? { retention: e.retention } : {}),
  };
}

/** What the reference ledger (a naive reading of the spec) bills for the same log. */
export function referenceTuples(raw: readonly object[]): Tuple[] {
  return referenceLedger(validateBatch(raw).map(toReference)).map((r) => [r.orgId, r.workspaceId, r.period, r.baseTraces, r.extendedUpgrades]);
}

let n = 0;
type Extra = { id?: string; ws?: string };

/** A trigger on run r-1 of a trace; `own` adds the type's own field. */
function trigger(type: string, prefix: string, org: string, trace: string, at: string, extra: Extra, own: (k: number) => Record<string, string>) {
  const k = ++n;
  return {
    id: extra.id ?? `${prefix}-${k}`,
    type,
    occurred_at: at,
    org_id: org,
    workspace_id: extra.ws ?? "prod",
    trace_id: trace,
    run_id: "r-1",
    ...own(k),
  };
}

/** Event builders with the spec's field names; ids are unique unless given. */
export const ev = {
  created: (org: string, trace: string, at: string, retention: "base" | "extended" = "base", extra: Extra = {}) => ({
    id: extra.id ?? `c-${++n}`,
    type: "trace-created",
    occurred_at: at,
    org_id: org,
    workspace_id: extra.ws ?? "prod",
    trace_id: trace,
    project_id: "p-1",
    retention,
  }),
  feedback: (org: string, trace: string, at: string, extra: Extra = {}) =>
    trigger("feedback-added", "f", org, trace, at, extra, (k) => ({ feedback_id: `fb-${k}` })),
  queue: (org: string, trace: string, at: string, extra: Extra = {}) =>
    trigger("queue-added", "q", org, trace, at, extra, () => ({ queue_id: "queue-1" })),
  rule: (org: string, trace: string, at: string, extra: Extra = {}) =>
    trigger("rule-matched", "r", org, trace, at, extra, () => ({ rule_id: "rule-1" })),
};
