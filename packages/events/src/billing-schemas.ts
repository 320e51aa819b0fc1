import { z } from "zod";
import { isPeriodKey } from "@ledger/billing";
import { identifier, instant } from "./schemas";

/**
 * Billing events (spec §10.2) and the `period-closed` marker (§10.4). They travel on the input
 * topic with trace events, so that "late" is decided by their position relative to the markers
 * in the same partition (C2); a header tells consumers they are not trace events.
 */
const billingCommon = { id: identifier, occurred_at: instant, org_id: identifier };

export const seatAdded = z.strictObject({ ...billingCommon, type: z.literal("seat-added"), user_id: identifier });
export const seatRemoved = z.strictObject({ ...billingCommon, type: z.literal("seat-removed"), user_id: identifier });
export const deploymentRun = z.strictObject({
  ...billingCommon,
  type: z.literal("deployment-run"),
  workspace_id: identifier,
  deployment_id: identifier,
  run_id: identifier,
});

export const BILLING_EVENT_TYPES = ["seat-added", "seat-removed", "deployment-run"] as const;
export const billingEvent = z.discriminatedUnion("type", [seatAdded, seatRemoved, deploymentRun]);

export const periodKey = z
  .string({ error: (i) => (i.input === undefined ? "is required" : "must be a string") })
  .refine(isPeriodKey, { error: "must be a billing period YYYY-MM (for example 2024-06)" })
  .meta({ id: "Period", description: "a billing period, a UTC calendar month", examples: ["2024-06"] });

/** Closes its period and every earlier one (C1). Only `id`, `type` and `period`. */
export const periodClosed = z.strictObject({ id: identifier, type: z.literal("period-closed"), period: periodKey });

export type SeatAdded = z.output<typeof seatAdded>;
export type SeatRemoved = z.output<typeof seatRemoved>;
export type DeploymentRun = z.output<typeof deploymentRun>;
export type BillingEvent = z.output<typeof billingEvent>;
export type PeriodClosed = z.output<typeof periodClosed>;

export const isBillingEvent = (e: { type: string }): e is BillingEvent => (BILLING_EVENT_TYPES as readonly string[]).includes(e.type);
export const isPeriodClosed = (e: { type: string }): e is PeriodClosed => e.type === "period-closed";

/** The marker the ledger writes for a period: one id per period, so writing it again is harmless. */
export const periodClosedMarker = (period: string): PeriodClosed => ({ id: `period-closed:${period}`, type: "period-closed", period });

/**
 * `PUT /v1/admin/orgs/{org}/alerts` (§6.6): a workspace's limit (`workspace_id` and `limit`) or the
 * month's cost (`spend_usd`), and the percentages to alert at.
 */
export const alertRequest = z
  .strictObject({
    workspace_id: identifier.optional(),
    limit: z.enum(["all_traces", "extended_traces"], { error: "must be all_traces or extended_traces" }).optional(),
    spend_usd: z
      .string({ error: 'must be a decimal string such as "500.00"' })
      .regex(/^(0|[1-9]\d{0,11})(\.\d{1,6})?$/, { error: 'must be a decimal string such as "500.00" (at most 6 decimals)' })
      .refine((v) => Number(v) > 0, { error: "must be more than 0" })
      .optional(),
    at: z
      .array(z.number({ error: "must be a whole percentage" }).int({ error: "must be a whole percentage" }).min(1, { error: "must be at least 1" }).max(1000, { error: "must be at most 1000" }), { error: "must be a list of percentages such as [50, 80, 100]" })
      .min(1, { error: "must name at least one percentage" })
      .max(20, { error: "must name at most 20 percentages" }),
  })
  .superRefine((r, ctx) => {
    const limit = r.workspace_id !== undefined || r.limit !== undefined;
    if (limit && r.spend_usd !== undefined) ctx.addIssue({ code: "custom", path: ["spend_usd"], message: "is not with workspace_id and limit: an alert watches a workspace's limit or the month's cost, not both" });
    else if (limit && (r.workspace_id === undefined || r.limit === undefined)) ctx.addIssue({ code: "custom", path: [r.workspace_id === undefined ? "workspace_id" : "limit"], message: "is required with the other (a workspace's limit)" });
    else if (!limit && r.spend_usd === undefined) ctx.addIssue({ code: "custom", path: ["spend_usd"], message: "is required unless workspace_id and limit are given (what the alert watches)" });
  });
export type AlertRequest = z.output<typeof alertRequest>;
