import type { Plan } from "@ledger/events";

/** An organization's configuration in effect (§7); never configured → Developer, no payment method. */
export interface OrgConfig {
  orgId: string;
  plan: Plan;
  paymentMethod: boolean;
  eventsPerHour?: number;
  bytesPerHour?: number;
  configured: boolean;
}

/** The per-organization limits of §6.2; null means no limit. */
export interface PlanLimits {
  eventsPerHour: number | null;
  bytesPerHour: number | null;
  tracesPerMonth: number | null;
}

const MB = 1_000_000;

export function planLimitsOf(org: OrgConfig): PlanLimits {
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

export const defaultOrg = (orgId: string): OrgConfig => ({ orgId, plan: "developer", paymentMethod: false, configured: false });
