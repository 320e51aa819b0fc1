import type { TraceFact } from "@ledger/billing";
import type { InputEvent } from "@ledger/events";

/** What an input event tells the upgrade decision. */
export function traceFactOf(event: InputEvent): TraceFact {
  const occurredAtMs = Date.parse(event.occurred_at);
  if (event.type === "trace-created") {
    return { kind: "created", eventId: event.id, occurredAtMs, workspaceId: event.workspace_id, retention: event.retention, projectId: event.project_id, source: upgradeSourceOf(event) };
  }
  return { kind: "trigger", type: event.type, eventId: event.id, occurredAtMs, workspaceId: event.workspace_id, source: upgradeSourceOf(event) };
}

/**
 * What an event would upgrade a trace as (§4.1): the rule, queue or feedback key one could turn
 * off, or the creation (with the default that made it extended, where the ledger resolved it).
 */
export function upgradeSourceOf(event: InputEvent): string {
  switch (event.type) {
    case "rule-matched":
      return `rule:${event.rule_id}`;
    case "queue-added":
      return `queue:${event.queue_id}`;
    case "feedback-added":
      return event.feedback_key === undefined ? "feedback" : `feedback:${event.feedback_key}`;
    case "trace-created":
      return event.retention_default === undefined ? "creation" : `creation:${event.retention_default}`;
  }
}
