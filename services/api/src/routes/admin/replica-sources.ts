import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { identifier } from "@ledger/events";
import type { Authenticator } from "../../auth/authentication";
import type { LedgerBackend } from "../../backend/contract";
import { bodyObject, fieldSentences } from "../../http/json-text";
import { described } from "../../http/operation";
import { RequestError } from "../../http/request-error";

type Req = FastifyRequest<{ Body: unknown }>;

export interface ReplicaSourcesOptions {
  auth: Authenticator;
  backend: Pick<LedgerBackend, "accountEvents" | "counterMembers" | "retainedRunParts">;
}

const seedBody = z.strictObject({
  count: z.enum(["events", "traces", "upgrades"]),
  orgId: identifier,
  workspaceId: identifier.optional(),
  fromMs: z.number().int(),
  toMs: z.number().int(),
});
const runLookup = z.strictObject({ orgId: identifier, workspaceId: identifier, runId: identifier, nowMs: z.number().int() });

/**
 * What a `ledger ingest` replica without its own ClickHouse (an embedded chDB belongs to one
 * process) reads through its primary: the account events, a limit counter's members, a run's
 * retained parts. The platform key only; the replica's side is `backendOverHttp`.
 */
export async function replicaSourceRoutes(app: FastifyInstance, o: ReplicaSourcesOptions): Promise<void> {
  app.get(
    "/v1/admin/account-events",
    described({ summary: "Every account event (for a replica)", tag: "admin", auth: "platform", answers: { 200: { description: "the account events in log order", schema: z.object({ events: z.array(z.unknown()) }) } }, refusals: [503] }),
    async (req: Req) => {
    await o.auth.platform(req);
    return { events: await o.backend.accountEvents() };
    },
  );
  app.post(
    "/v1/admin/counter-members",
    described({
      summary: "A limit counter's members (for a replica)",
      tag: "admin",
      auth: "platform",
      body: { schema: seedBody, contentTypes: ["application/json"], example: { count: "traces", orgId: "acme", workspaceId: "prod", fromMs: 1717200000000, toMs: 1719792000000 } },
      answers: { 200: { description: "the ids counted in the window", schema: z.object({ members: z.array(z.string()) }) } },
      refusals: [503],
    }),
    async (req: Req) => {
    await o.auth.platform(req);
    const r = seedBody.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: `bad counter source: ${fieldSentences(r.error.issues)}` });
    return { members: await o.backend.counterMembers(r.data) };
    },
  );
  app.post(
    "/v1/admin/retained-run-parts",
    described({
      summary: "A run's retained parts (for a replica)",
      tag: "admin",
      auth: "platform",
      body: { schema: runLookup, contentTypes: ["application/json"], example: { orgId: "acme", workspaceId: "prod", runId: "r-1", nowMs: 1717200000000 } },
      answers: { 200: { description: "the run's stored parts whose trace is still retained", schema: z.object({ parts: z.array(z.unknown()) }) } },
      refusals: [503],
    }),
    async (req: Req) => {
    await o.auth.platform(req);
    const r = runLookup.safeParse(bodyObject(req.body));
    if (!r.success) throw new RequestError(400, { error: `bad run lookup: ${fieldSentences(r.error.issues)}` });
    return { parts: await o.backend.retainedRunParts(r.data) };
    },
  );
}
