import { z } from "zod";
import { identifier, instant } from "./schemas";
import { periodKey } from "./billing-schemas";

/**
 * Account events (spec §7): organizations, workspaces, projects and API keys are event-sourced
 * like traces. Each event replaces the earlier configuration of its object whole. Published to
 * `<prefix>.accounts`, keyed by org_id, so one organization's changes keep their order.
 */
const PLANS = ["developer", "plus", "startup", "enterprise"] as const;
const RETENTIONS = ["base", "extended"] as const;

/** A price as an exact decimal string of dollars, at most 6 decimals (micro-dollars). */
export const usdAmount = z
  .string({ error: "must be a decimal string such as \"39.00\"" })
  .regex(/^\d{1,9}(\.\d{1,6})?$/, { error: 'must be a decimal string of dollars with at most 6 decimals, such as "39.00"' });

const count = z.number({ error: "must be a whole number" }).int({ error: "must be a whole number" }).min(0, { error: "must not be negative" });
const limit = z.union([count.max(Number.MAX_SAFE_INTEGER), z.null()], { error: "must be a whole number or null (no limit)" });
const retention = z.enum(RETENTIONS, { error: 'must be "base" or "extended"' });

const accountCommon = { id: identifier, occurred_at: instant, org_id: identifier };

/** What an organization's configuration says (the admin API's body takes these fields too). */
export const orgConfigurationFields = {
  plan: z.enum(PLANS, { error: `must be one of ${PLANS.join(", ")}` }),
  payment_method: z.boolean({ error: "must be true or false" }),
  events_per_hour: count.min(1, { error: "must be at least 1" }).optional(),
  bytes_per_hour: count.min(1, { error: "must be at least 1" }).optional(),
  seat_price_usd: usdAmount.optional(),
  free_base_traces: count.optional(),
  base_trace_price_usd: usdAmount.optional(),
  upgrade_price_usd: usdAmount.optional(),
  deployment_run_price_usd: usdAmount.optional(),
  /** Enterprise commitments (§10.8): a year's committed spend, billed by annual invoice from `term_start`. */
  commitment_usd: usdAmount.refine((v) => /[1-9]/.test(v), { error: "must be more than 0" }).optional(),
  term_start: periodKey.optional(),
  /** G2: a personal organization (one workspace, one seat, Developer only) or a shared one (the default). */
  kind: z.enum(["personal", "shared"], { error: 'must be "personal" or "shared"' }).optional(),
  /** LG1: when the organization was created (organizations before pricing are legacy). */
  created_at: instant.optional(),
};

export const orgConfigured = z
  .strictObject({
    ...accountCommon,
    type: z.literal("org-configured"),
    ...orgConfigurationFields,
  })
  .superRefine((e, ctx) => {
    // Hourly plan limits are configured only for enterprise contracts (§6.2); elsewhere the
    // plan's published values apply, and a configured number would silently do nothing.
    for (const field of ["events_per_hour", "bytes_per_hour"] as const) {
      if (e[field] !== undefined && e.plan !== "enterprise") {
        ctx.addIssue({ code: "custom", path: [field], message: `is configured only on the enterprise plan (this organization is on ${e.plan})` });
      }
    }
    if (e.kind === "personal" && e.plan !== "developer") {
      ctx.addIssue({ code: "custom", path: ["plan"], message: `must be developer for a personal organization (G2: personal organizations are on the Developer plan only; ${e.plan} is for shared ones)` });
    }
    // A commitment is an Enterprise contract's, and needs both its amount and its first month.
    for (const [field, other] of [["commitment_usd", "term_start"], ["term_start", "commitment_usd"]] as const) {
      if (e[field] === undefined) continue;
      if (e.plan !== "enterprise") ctx.addIssue({ code: "custom", path: [field], message: `is configured only on the enterprise plan (this organization is on ${e.plan})` });
      else if (e[other] === undefined) ctx.addIssue({ code: "custom", path: [other], message: `is required with ${field} (a commitment is an amount a year from a first month)` });
    }
  });

/** What a workspace's configuration says (the admin API's body takes these fields too). */
export const workspaceConfigurationFields = {
  all_traces_limit: limit,
  extended_traces_limit: limit,
  default_retention: retention,
};

export const workspaceConfigured = z.strictObject({
  ...accountCommon,
  type: z.literal("workspace-configured"),
  workspace_id: identifier,
  ...workspaceConfigurationFields,
});

/** What a project's configuration says (the admin API's body takes these fields too). */
export const projectConfigurationFields = { default_retention: retention };

export const projectConfigured = z.strictObject({
  ...accountCommon,
  type: z.literal("project-configured"),
  workspace_id: identifier,
  project_id: identifier,
  ...projectConfigurationFields,
});

/** sha256 of the key, lower-case hex: the only form in which a key is ever stored. */
export const keyHash = z.string({ error: "must be a string" }).regex(/^[0-9a-f]{64}$/, { error: "must be a sha256 hash (64 lower-case hex digits), never the key itself" });

/** Whose a key is (the admin API's body takes these fields too). */
export const keyFields = {
  kind: z.enum(["personal", "service"], { error: 'must be "personal" or "service"' }),
  user_id: identifier.optional(),
};

export const apiKeyCreated = z
  .strictObject({
    ...accountCommon,
    type: z.literal("api-key-created"),
    workspace_id: identifier,
    key_id: identifier,
    key_hash: keyHash,
    ...keyFields,
  })
  .superRefine((e, ctx) => {
    if (e.kind === "personal" && e.user_id === undefined) ctx.addIssue({ code: "custom", path: ["user_id"], message: "is required for a personal key" });
    if (e.kind === "service" && e.user_id !== undefined) ctx.addIssue({ code: "custom", path: ["user_id"], message: "belongs to personal keys only" });
  });

export const apiKeyRevoked = z.strictObject({
  ...accountCommon,
  type: z.literal("api-key-revoked"),
  key_id: identifier,
});

/**
 * Credits (§10.7). Account events rather than billing events: only the platform grants money,
 * never a workspace's key, and the accounts topic keeps one organization's grants and voids in
 * log order with the close markers between them (CR1).
 */
export const creditFields = {
  grant_id: identifier,
  amount_usd: usdAmount.refine((v) => /[1-9]/.test(v), { error: "must be more than 0" }),
  first_period: periodKey.optional(),
  last_period: periodKey.optional(),
  reason: identifier,
};

export const creditGranted = z
  .strictObject({ ...accountCommon, type: z.literal("credit-granted"), ...creditFields })
  .superRefine((e, ctx) => {
    const first = e.first_period ?? e.occurred_at.slice(0, 7);
    if (e.last_period !== undefined && e.last_period < first) {
      ctx.addIssue({ code: "custom", path: ["last_period"], message: `must not come before first_period (${first}${e.first_period === undefined ? ", the period of occurred_at" : ""})` });
    }
  });

export const creditVoided = z.strictObject({ ...accountCommon, type: z.literal("credit-voided"), grant_id: identifier });

export const ACCOUNT_EVENT_TYPES = ["org-configured", "workspace-configured", "project-configured", "api-key-created", "api-key-revoked", "credit-granted", "credit-voided"] as const;
export type AccountEventType = (typeof ACCOUNT_EVENT_TYPES)[number];

export const accountEvent = z.discriminatedUnion("type", [orgConfigured, workspaceConfigured, projectConfigured, apiKeyCreated, apiKeyRevoked, creditGranted, creditVoided]);

export type OrgConfigured = z.output<typeof orgConfigured>;
export type WorkspaceConfigured = z.output<typeof workspaceConfigured>;
export type ProjectConfigured = z.output<typeof projectConfigured>;
export type ApiKeyCreated = z.output<typeof apiKeyCreated>;
export type ApiKeyRevoked = z.output<typeof apiKeyRevoked>;
export type CreditGranted = z.output<typeof creditGranted>;
export type CreditVoided = z.output<typeof creditVoided>;
export type AccountEvent = z.output<typeof accountEvent>;
export type Plan = (typeof PLANS)[number];
export type Retention = (typeof RETENTIONS)[number];
export const isAccountEvent = (e: { type: string }): e is AccountEvent => (ACCOUNT_EVENT_TYPES as readonly string[]).includes(e.type);
