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
/** Event builders with the spec's field names; ids are unique unless given. */
export const ev = {
  created: (org: string, trace: string, at: string, retention: "base" | "extended" = "base", extra: { id?: string; ws?: string } = {}) => ({
    id: extra.id ?? `c-${++n}`,
    type: "trace-created",
    occurred_at: at,
    org_id: org,
    workspace_id: extra.ws ?? "prod",
    trace_id: trace,
    project_id: "p-1",
    retention,
  }),
  feedback: (org: string, trace: string, at: string, extra: { id?: string; ws?: string } = {}) => ({
    id: extra.id ?? `f-${++n}`,
    type: "feedback-added",
    occurred_at: at,
    org_id: org,
    workspace_id: extra.ws ?? "prod",
    trace_id: trace,
    run_id: "r-1",
    feedback_id: `fb-${n}`,
  }),
  queue: (org: string, trace: string, at: string, extra: { id?: string; ws?: string } = {}) => ({
    id: extra.id ?? `q-${++n}`,
    type: "queue-added",
    occurred_at: at,
    org_id: org,
    workspace_id: extra.ws ?? "prod",
    trace_id: trace,
    run_id: "r-1",
    queue_id: "queue-1",
  }),
  rule: (org: string, trace: string, at: string, extra: { id?: string; ws?: string } = {}) => ({
    id: extra.id ?? `r-${++n}`,
    type: "rule-matched",
    occurred_at: at,
    org_id: org,
    workspace_id: extra.ws ?? "prod",
    trace_id: trace,
    run_id: "r-1",
    rule_id: "rule-1",
  }),
};
