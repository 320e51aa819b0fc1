import type { AccountDirectory } from "./directory";
import { isLegacy } from "./plan";

/**
 * The plans' gates on what arrives through the API (spec §7.1, G1–G2): a shared organization on
 * a paid plan needs a card, a personal one has one workspace. Pure: the same directory and
 * events always give the same answer. A replay is recorded history and is not gated.
 */
export interface GateRefusal {
  status: 402 | 403;
  rule: "G1" | "G2";
  message: string;
}

/** What a gate reads of an event. */
export interface GatedEvent {
  type?: string;
  org_id: string;
  workspace_id?: string;
  user_id?: string;
}

/**
 * The first refusal for a request's events (and the organization of the key that sent it, for
 * requests whose events are not all known yet, such as run updates), or null.
 */
export function ingestGate(directory: AccountDirectory, events: readonly GatedEvent[], keyOrg?: string): GateRefusal | null {
  const orgs = [...new Set([...(keyOrg !== undefined ? [keyOrg] : []), ...events.map((e) => e.org_id)])];
  for (const orgId of orgs) {
    const org = directory.org(orgId);
    // Legacy organizations are grandfathered: without a card they have LG1's cap instead.
    if ((org.plan === "plus" || org.plan === "startup") && !org.paymentMethod && !isLegacy(org)) {
      return {
        status: 402,
        rule: "G1",
        message:
          `organization ${orgId} is on the ${org.plan} plan without a payment method, and a shared organization on a paid plan is usable only with one (G1): ` +
          `add a card (ledger orgs set ${orgId} --plan ${org.plan} --payment-method), or move it to the developer plan; nothing was published or counted`,
      };
    }
    if (org.kind !== "personal") continue;
    const own = directory.workspaceOf(orgId) ?? events.find((e) => e.org_id === orgId && e.workspace_id !== undefined)?.workspace_id;
    const other = events.find((e) => e.org_id === orgId && e.workspace_id !== undefined && e.workspace_id !== own);
    if (other) {
      return {
        status: 403,
        rule: "G2",
        message: `organization ${orgId} is a personal organization, which has one workspace (${own}): events for workspace ${other.workspace_id} are refused (G2); nothing was published or counted`,
      };
    }
  }
  return null;
}

/** G2 in the admin API: a personal organization's second workspace (configured, or a key for it). */
export function secondWorkspaceOf(directory: AccountDirectory, orgId: string, workspaceId: string): GateRefusal | null {
  const org = directory.org(orgId);
  const own = directory.workspaceOf(orgId);
  if (org.kind !== "personal" || own === undefined || own === workspaceId) return null;
  return { status: 403, rule: "G2", message: `organization ${orgId} is a personal organization, which has one workspace (${own}); it cannot have workspace ${workspaceId} (G2); nothing was changed` };
}

/** LG2: the reason of the early users' credit, which a legacy organization may claim once. */
export const EARLY_USER = "early-user";

/** Why an organization may not claim the early users' credit, or null if it may. */
export function earlyUserClaimRefusal(directory: AccountDirectory, orgId: string): string | null {
  const org = directory.org(orgId);
  if (!isLegacy(org)) {
    const created = org.createdAtMs === undefined ? "has no created_at in its configuration" : `was created at ${new Date(org.createdAtMs).toISOString()}`;
    return `only an organization created before 2024-04-02 (a legacy one, LG1) may claim the early users' credit, and ${orgId} ${created}`;
  }
  const claimed = directory.earlyUserGrant(orgId);
  return claimed === undefined ? null : `${orgId} has claimed the early users' credit already (grant ${claimed}); it is claimed once (LG2)`;
}

/** Personal organizations the events add a seat to: the only ones whose seat holders G2 needs. */
export function personalSeatOrgs(directory: AccountDirectory, events: readonly GatedEvent[]): string[] {
  return [...new Set(events.filter((e) => e.type === "seat-added" && directory.org(e.org_id).kind === "personal").map((e) => e.org_id))];
}

/**
 * G2: a personal organization has one seat. `holders`: its users with a seat now, as the ledger
 * knows; the request's seat events apply in order, and a second user with a seat is refused.
 */
export function personalSeatRefusal(orgId: string, holders: readonly string[], events: readonly GatedEvent[]): GateRefusal | null {
  const seated = new Set(holders);
  for (const e of events) {
    if (e.org_id !== orgId || e.user_id === undefined) continue;
    if (e.type === "seat-removed") seated.delete(e.user_id);
    if (e.type !== "seat-added" || seated.has(e.user_id)) continue;
    if (seated.size > 0) {
      return {
        status: 403,
        rule: "G2",
        message: `organization ${orgId} is a personal organization, which has one seat (held by ${[...seated].join(", ")}): a seat for ${e.user_id} is refused (G2); nothing was published or counted`,
      };
    }
    seated.add(e.user_id);
  }
  return null;
}
