import type { TraceFact } from "@ledger/billing";
import type { InputEvent } from "@ledger/events";

/** What an input event tells the upgrade decision. */
export function traceFactOf(event: InputEvent): TraceFact {
  const occurredAtMs = Date.parse(event.occurred_at);
  if (event.type === "trace-created") {
    return { kind: "created", eventId: event.id, occurredAtMs, workspaceId: event.workspace_id, retention: event.retention };
  }
  return { kind: "trigger", type: event.type, eventId: event.id, occurredAtMs, workspaceId: event.workspace_id };
}
