import { periodKeyOf } from "./period";
import { compareKeys } from "./usage-row";
import { BASE_RETENTION_MS, EXTENDED_RETENTION_MS } from "./upgrade-decision";

/**
 * A deliberately naive second reading of the spec, used as the oracle of property tests and of
 * pipeline tests: whole-log scans, no shared code with the upgrader beyond the period key.
 */
export interface ReferenceEvent {
  id: string;
  type: "trace-created" | "feedback-added" | "queue-added" | "rule-matched";
  occurredAtMs: number;
  orgId: string;
  workspaceId: string;
  traceId: string;
  retention?: "base" | "extended";
}

export interface ReferenceRow {
  orgId: string;
  workspaceId: string;
  period: string;
  baseTraces: number;
  extendedUpgrades: number;
}

export function referenceLedger(log: readonly ReferenceEvent[]): ReferenceRow[] {
  const seen = new Set<string>();
  const unique = log.filter((e) => {
    const k = JSON.stringify([e.orgId, e.id]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const byTrace = new Map<string, ReferenceEvent[]>();
  for (const e of unique) {
    const k = JSON.stringify([e.orgId, e.traceId]);
    byTrace.set(k, [...(byTrace.get(k) ?? []), e]);
  }
  const rows = new Map<string, ReferenceRow>();
  const bump = (orgId: string, workspaceId: string, atMs: number, field: "baseTraces" | "extendedUpgrades") => {
    const period = periodKeyOf(atMs);
    const k = JSON.stringify([orgId, workspaceId, period]);
    const row = rows.get(k) ?? { orgId, workspaceId, period, baseTraces: 0, extendedUpgrades: 0 };
    row[field] += 1;
    rows.set(k, row);
  };
  for (const events of byTrace.values()) {
    const creation = events.find((e) => e.type === "trace-created");
    if (creation) bump(creation.orgId, creation.workspaceId, creation.occurredAtMs, "baseTraces");
    // Walk the trace's log until the first event that upgrades it.
    let createdSoFar: ReferenceEvent | undefined;
    for (const e of events) {
      if (e.type === "trace-created") {
        if (createdSoFar) continue;
        createdSoFar = e;
        if (e.retention === "extended") {
          bump(e.orgId, e.workspaceId, e.occurredAtMs, "extendedUpgrades");
          break;
        }
        continue;
      }
      if (createdSoFar) {
        const life = createdSoFar.retention === "extended" ? EXTENDED_RETENTION_MS : BASE_RETENTION_MS;
        if (e.occurredAtMs - createdSoFar.occurredAtMs >= life) continue; // expired, rejected
        const at = e.occurredAtMs < createdSoFar.occurredAtMs ? createdSoFar.occurredAtMs : e.occurredAtMs;
        bump(e.orgId, createdSoFar.workspaceId, at, "extendedUpgrades");
      } else {
        bump(e.orgId, e.workspaceId, e.occurredAtMs, "extendedUpgrades");
      }
      break;
    }
  }
  return [...rows.values()].sort(compareRows);
}

function compareRows(a: ReferenceRow, b: ReferenceRow): number {
  return compareKeys([a.orgId, a.workspaceId, a.period], [b.orgId, b.workspaceId, b.period]);
}
