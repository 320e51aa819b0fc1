import { isLegacyCreation, LEGACY_CAP_FROM_MS } from "@ledger/billing";
import type { Plan } from "@ledger/events";

/** An organization's configuration in effect (§7); never configured → Developer, no payment method. */
export interface OrgConfig {
  orgId: string;
  plan: Plan;
  paymentMethod: boolean;
  eventsPerHour?: number;
  bytesPerHour?: number;
  configured: boolean;
  /** G2: personal (one workspace, one seat, Developer only) or shared. */
  kind: "personal" | "shared";
  /** LG1: when it was created (epoch ms), if its configuration says. */
  createdAtMs?: number;
}

/** The per-organization limits of §6.2; null means no limit. */
export interface PlanLimits {
  eventsPerHour: number | null;
  bytesPerHour: number | null;
  tracesPerMonth: number | null;
}

const MB = 1_000_000;

/** LG1: organizations created before pricing (2 April 2024) are legacy. */
export const isLegacy = (org: OrgConfig): boolean => isLegacyCreation(org.createdAtMs);

/** §6.2 at `nowMs`, with LG1's cap on a legacy organization that has no payment method. */
export function planLimitsOf(org: OrgConfig, nowMs: number): PlanLimits {
  const limits = ownPlanLimits(org);
  if (isLegacy(org) && !org.paymentMethod && nowMs >= LEGACY_CAP_FROM_MS) return { ...limits, tracesPerMonth: 5_000 };
  return limits;
}

function ownPlanLimits(org: OrgConfig): PlanLimits {
  switch (org.plan) {
    case "developer":
      return org.paymentMethod
        ? { eventsPerHour: 250_000, bytesPerHour: 2_500 * MB, tracesPerMonth: null }
        : { eventsPerHour: 50_000, bytesPerHour: 500 * MB, tracesPerMonth: 5_000 };
    case "plus":
    case "startup":
      return { eventsPerHour: 500_000, bytesPerHour: 5_000 * MB, tracesPerMonth: null };
    case "enterprise":
      // Configured per contract; what the contract leaves out is not limited.
      return { eventsPerHour: org.eventsPerHour ?? null, bytesPerHour: org.bytesPerHour ?? null, tracesPerMonth: null };
  }
}

export const defaultOrg = (orgId: string): OrgConfig => ({ orgId, plan: "developer", paymentMethod: false, configured: false, kind: "shared" });
