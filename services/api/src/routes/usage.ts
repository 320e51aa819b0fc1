import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { dailyUsageParams, monthOutlookParams, upgradeAttributionParams, usageCostsParams, usageParams } from "@ledger/clickhouse";
import { identifier } from "@ledger/events";
import type { Clock } from "@ledger/limits";
import type { AccountCache } from "../auth/account-cache";
import { authorizeOrg, type Authenticator } from "../auth/authentication";
import type { LedgerBackend } from "../backend/contract";
import type { Admission } from "../intake/admission";
import { limitsOf, withLimitDollars } from "../intake/limits-view";
import { admitRead } from "../intake/read-admission";
import { described } from "../http/operation";
import { queryParameters } from "../http/query-parameters";
import { RequestError } from "../http/request-error";

type Req = FastifyRequest<{ Querystring: Record<string, string | undefined> }>;

export interface UsageRoutesOptions {
  auth: Authenticator;
  accounts: AccountCache;
  admission: Admission;
  clock: Clock;
  backend: Pick<LedgerBackend, "usage" | "dailyUsage" | "upgradeAttribution" | "monthOutlook" | "usageCosts" | "currentPrices">;
}

const limitsQuery = z.strictObject({ org: identifier.optional(), workspace: identifier.optional() });
const dailyQuery = dailyUsageParams.partial({ org: true });
const upgradesQuery = upgradeAttributionParams.partial({ org: true });
const outlookQuery = monthOutlookParams.partial({ org: true });
const costsQuery = usageCostsParams.partial({ org: true });
const pricesQuery = z.strictObject({ org: identifier.optional() });
const rows = z.object({ rows: z.array(z.record(z.string(), z.unknown())), charges: z.string() });
/** What `base_charge_usd` and `upgrade_charge_usd` are: list prices, not what an invoice charges. */
const USAGE_CHARGES =
  "base_charge_usd and upgrade_charge_usd are at list price ($0.0005 a base trace, $0.0045 an upgrade), before the free allotment, contract prices and credits; an invoice (/v1/invoices) says what is owed";

/**
 * `GET /v1/usage` (billed usage per period), `GET /v1/usage/daily` (the page's chart) and
 * `GET /v1/limits` (a key's organization's limits with their counts): the platform key with
 * `org`, or a key of the organization (`org` defaults to the key's; another → 403).
 */
export async function usageRoutes(app: FastifyInstance, o: UsageRoutesOptions): Promise<void> {
  /**
   * Authenticates, checks the parameters, picks the organization (a key's own by default) and
   * counts the request; null when refused (answered).
   */
  const admitted = async <S extends z.ZodType<{ org?: string }>>(req: Req, reply: FastifyReply, schema: S, route: string, orgRequired = true): Promise<(z.output<S> & { org?: string }) | null> => {
    const principal = await o.auth.principalOf(req);
    const query = queryParameters(schema, req.query, route);
    const org = query.org ?? (principal.kind === "key" ? principal.key.orgId : undefined);
    if (org === undefined && orgRequired) throw new RequestError(400, { error: "org is required with the platform key (the organization to show)" });
    if (org !== undefined) authorizeOrg(principal, org);
    return (await admitRead(o, principal, req, reply)) ? { ...query, ...(org !== undefined ? { org } : {}) } : null;
  };

  // Without `org`, the platform key reads every organization's usage.
  app.get(
    "/v1/usage",
    described({
      summary: "Billed usage per period",
      description: "Base traces and extended upgrades per organization (or workspace) and period, as invoices count them. Without org, the platform key reads every organization.",
      tag: "usage",
      auth: "org-key-or-platform",
      query: usageParams,
      answers: { 200: { description: "one row per organization (or workspace) and period with usage", schema: rows } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
    const query = await admitted(req, reply, usageParams, "/v1/usage", false);
    return query ? { rows: await o.backend.usage(query), charges: USAGE_CHARGES } : reply;
    },
  );

  app.get(
    "/v1/usage/upgrades",
    described({
      summary: "What upgraded a period's traces, and what it cost (§4.1)",
      description: "The period's extended upgrades grouped by cause (a rule, a queue, feedback with its key, an extended creation), rule, queue, feedback key, project or workspace, largest first, each with its cost at the period's upgrade price.",
      tag: "usage",
      auth: "org-key-or-platform",
      query: upgradesQuery,
      answers: { 200: { description: "the groups and the period's totals", schema: z.record(z.string(), z.unknown()) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      const query = await admitted(req, reply, upgradesQuery, "/v1/usage/upgrades");
      return query ? o.backend.upgradeAttribution({ ...query, org: query.org! }) : reply;
    },
  );

  app.get(
    "/v1/usage/outlook",
    described({
      summary: "A period so far and its month-end forecast (§4.2)",
      description:
        "The whole days counted so far: base traces, upgrades, the free allotment used, the invoice's total and amount due at the organization's prices; and a month-end range from the last 7 and 28 days' daily rates. Lines other than base traces and upgrades (seats, deployment runs, adjustments) and credits as the preview has them.",
      tag: "usage",
      auth: "org-key-or-platform",
      query: outlookQuery,
      answers: { 200: { description: "the period so far and its forecast, with the method in a sentence", schema: z.record(z.string(), z.unknown()) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      const query = await admitted(req, reply, outlookQuery, "/v1/usage/outlook");
      return query ? o.backend.monthOutlook({ ...query, org: query.org! }) : reply;
    },
  );

  app.get(
    "/v1/usage/costs",
    described({
      summary: "A period's usage cost per workspace or project (§4.3)",
      description: "Each workspace's (or project's) base traces and upgrades of the period at the organization's list prices, largest first; the organization's free allotment taken off once, so the total is what the period's base traces and upgrades cost.",
      tag: "usage",
      auth: "org-key-or-platform",
      query: costsQuery,
      answers: { 200: { description: "the groups, the allotment and the total", schema: z.record(z.string(), z.unknown()) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      const query = await admitted(req, reply, costsQuery, "/v1/usage/costs");
      return query ? o.backend.usageCosts({ ...query, org: query.org! }) : reply;
    },
  );

  app.get(
    "/v1/prices",
    described({
      summary: "An organization's prices of the current period (§10.1)",
      tag: "usage",
      auth: "org-key-or-platform",
      query: pricesQuery,
      answers: { 200: { description: "the prices its preview is rated with", schema: z.record(z.string(), z.unknown()) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      const query = await admitted(req, reply, pricesQuery, "/v1/prices");
      return query ? { org_id: query.org!, prices: await o.backend.currentPrices(query.org!) } : reply;
    },
  );

  app.get(
    "/v1/usage/daily",
    described({
      summary: "Daily usage (the usage page's chart)",
      tag: "usage",
      auth: "org-key-or-platform",
      query: dailyQuery,
      answers: { 200: { description: "the organization's days, each with its base traces and upgrades", schema: z.record(z.string(), z.unknown()) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      const query = await admitted(req, reply, dailyQuery, "/v1/usage/daily");
      return query ? o.backend.dailyUsage({ ...query, org: query.org! }) : reply;
    },
  );

  app.get(
    "/v1/limits",
    described({
      summary: "An organization's limits with their counts, and each workspace limit in dollars",
      tag: "usage",
      auth: "org-key-or-platform",
      query: limitsQuery,
      answers: { 200: { description: "each workspace's limits and what counts toward them", schema: z.record(z.string(), z.unknown()) } },
      refusals: [429, 503],
    }),
    async (req: Req, reply) => {
      const query = await admitted(req, reply, limitsQuery, "/v1/limits");
      return query ? withLimitDollars(await limitsOf(o, query.org!, query.workspace, false), await o.backend.currentPrices(query.org!)) : reply;
    },
  );
}
