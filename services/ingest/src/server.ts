import { registerInvoiceRoutes, type InvoiceHost } from "./invoice-routes";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Registry } from "prom-client";
import { describeProblems, INGEST_EVENTS, InvalidBatchError, parseNdjson, validateBatchOf, type AccountEvent, type LedgerEvent } from "@ledger/events";
import type { KeyedMessage, LagGovernor } from "@ledger/kafka";
import { usageParams, type DailyUsage, type RetainedRunPart, type RunLookup } from "@ledger/clickhouse";
import type { UsageRow } from "@ledger/billing";
import { rateClassOf, type Clock, type EventCharge, type SeedQuery } from "@ledger/limits";
import type { IngestConfig } from "./config";
import type { EventPublisher } from "./event-publisher";
import { IngestMetrics } from "./ingest-metrics";
import type { AccountCache } from "./account-cache";
import type { Admission } from "./admission";
import { AccessError, authenticate, authorizeEvents, authorizeOrg, type Principal } from "./authentication";
import { registerAdminRoutes } from "./admin-api";
import { RequestError } from "./request-error";
import { requestBody } from "./body-decoding";
import { parseJsonText } from "./json-text";
import { queryParameters, repeatedParameterProblem } from "./query-parameters";
import { EventIntake } from "./event-intake";
import { registerLangSmithRoutes } from "./langsmith-api";
import { registerUsageRoutes } from "./usage-routes";
import { admitRead } from "./read-admission";
import type { RunTraceIndex } from "@ledger/redis";

export interface IngestDeps {
  config: IngestConfig;
  publisher: EventPublisher;
  /** Run data of the LangSmith API (§9) to the runs topic, acknowledged by Kafka. */
  publishRuns: (messages: readonly KeyedMessage[]) => Promise<void>;
  /** The topic publishRuns writes to (backpressure counts its messages there). */
  runsTopic: string;
  /** `GET /runs/{id}`: the retained parts of a run (§9). */
  retainedRunParts: (lookup: RunLookup) => Promise<RetainedRunPart[]>;
  registry: Registry;
  /** Backpressure: waits while consumers lag more than the broker keeps (see LagGovernor). */
  governor?: LagGovernor;
  /** `GET /v1/usage`; parameters are validated by the reader. */
  usage: (query: Record<string, unknown>) => Promise<UsageRow[]>;
  /** `GET /v1/usage/daily`: the usage page's chart; parameters are validated by the reader. */
  dailyUsage: (query: Record<string, unknown>) => Promise<DailyUsage>;
  /** `GET /readyz`: resolves when Kafka, ClickHouse and the consumers are usable. */
  ready: () => Promise<void>;
  /** More Prometheus text for `GET /metrics` (the consumers' registry when ingest runs in a thread). */
  moreMetrics?: () => Promise<string>;
  clock: Clock;
  accounts: AccountCache;
  admission: Admission;
  /** The API tier's credential (§7): any organization, the admin API, no per-key rate limit. */
  platformKey: string;
  /** Publishes an account event to the accounts topic and resolves after Kafka acknowledged it. */
  publishAccount: (event: AccountEvent) => Promise<void>;
  /** ClickHouse reads that replicas without their own ClickHouse ask the primary for (admin API). */
  accountEvents: () => Promise<AccountEvent[]>;
  counterMembers: (seed: SeedQuery) => Promise<string[]>;
  /** `ledger sql`: a read-only query in a ClickHouse output format (refusals: AnalystQueryError). */
  analystQuery: (query: string, format: string) => Promise<string>;
  /** Invoices and period close, answered by the process that owns ClickHouse. */
  invoices: InvoiceHost;
  /** The trace and workspace of every accepted run, shared by the replicas (LangSmith API). */
  runIndex: RunTraceIndex;
  /** Where a request the API failed to serve (a 5xx it did not mean) is reported. */
  log?: (line: string) => void;
}


/**
 * The ingest HTTP API: `POST /v1/events`, usage, the admin API, health and Prometheus metrics.
 * Every request to the first three carries a key (§7) and passes the limits of §6 before
 * anything is published.
 */
export function buildIngestServer(deps: IngestDeps): FastifyInstance {
  const { config } = deps;
  const metrics = new IngestMetrics(deps.registry);
  const app = Fastify({
    bodyLimit: config.maxBytes,
    logger: false,
    // A client that trickles its request cannot hold a connection: its headers must arrive
    // within 10 s (Node answers 408 and closes, checked every second), its body within
    // requestTimeoutMs (requestBody below).
    http: { headersTimeout: Math.min(config.requestTimeoutMs, 10_000), connectionsCheckingInterval: 1_000 },
  });

  // A parameter given twice or as an array is refused on every route: a check that reads one
  // value must not be passed by another.
  app.addHook("onRequest", async (req) => {
    const problem = repeatedParameterProblem(req.query as Record<string, unknown>);
    if (problem) throw new RequestError(400, { error: problem });
  });

  // Bodies are decoded as streams; the body limit applies before and after decompression, and a
  // body lives no longer than its request (requestBody).
  app.addHook("preParsing", (req, reply, _payload, done) => {
    try {
      done(null, requestBody(req.raw, reply.raw, { maxBytes: config.maxBytes, timeoutMs: config.requestTimeoutMs }));
    } catch (error) {
      done(error as Error);
    }
  });

  // Both body types are parsed here, not by fastify, so a malformed body gets our error shape.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(["application/json", "application/x-ndjson"], { parseAs: "string" }, (_req, body, done) =>
    done(null, body),
  );
  // Multipart run batches are parsed as a stream by their route (multipart-runs.ts), never buffered whole.
  app.addContentTypeParser("multipart/form-data", (_req, payload, done) => done(null, payload));

  // Every refusal is a RequestError (or AccessError) answered by its status and body; anything
  // else is this request's failure: a 500 that is logged and counted, never the process's.
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (error instanceof AccessError) {
      metrics.refused.inc({ reason: error.status === 401 ? "unauthenticated" : "forbidden" });
      return reply.code(error.status).send({ error: error.message });
    }
    if (error instanceof RequestError) {
      metrics.refused.inc({ reason: refusalReason(error.status) });
      if (error.status === 408) reply.header("connection", "close");
      // An engine that did not answer in time: the client's retry helps (the SDK retries 503),
      // and every effect of a request is idempotent, so a retry is safe.
      if (error.status === 503) reply.header("retry-after", "1");
      return reply.code(error.status).send(error.body);
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      metrics.refused.inc({ reason: "too_large" });
      return reply.code(413).send({ error: `request body is larger than ${config.maxBytes} bytes (before or after decompression); nothing was published; split it` });
    }
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return reply.code(415).send({ error: "Content-Type must be application/json (an array) or application/x-ndjson" });
    }
    if (error.code === "FST_ERR_CTP_INVALID_CONTENT_LENGTH") {
      metrics.refused.inc({ reason: "invalid" });
      return reply.code(400).send({ error: "the body's length is not the Content-Length sent; nothing was published" });
    }
    if ((error as { retriable?: unknown }).retriable === true) {
      metrics.refused.inc({ reason: "unavailable" });
      return reply.code(503).header("retry-after", "1").send({ error: `${error.message}; retry later (a retried request counts once)` });
    }
    // fastify's own refusals of a request as sent (a malformed URL, say) keep their 4xx.
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return reply.code(error.statusCode).send({ error: error.message });
    metrics.failed.inc({ route: routeOf(req) });
    deps.log?.(`api: ${req.method} ${routeOf(req)} failed (request ${req.id}): ${error.stack ?? error.message}`);
    return reply.code(500).send({ error: `the ledger could not serve this request (request ${req.id}, logged); nothing was published by it` });
  });

  const intake = new EventIntake({ admission: deps.admission, publisher: deps.publisher, publishRuns: deps.publishRuns, runsTopic: deps.runsTopic, governor: deps.governor, clock: deps.clock, metrics, backpressureMs: config.backpressureMs });
  const principalOf = (req: { headers: Record<string, string | string[] | undefined> }) => authenticate(req.headers, deps.accounts, deps.platformKey);

  app.post("/v1/events", async (req, reply) => {
    const receivedAt = deps.clock.now();
    const principal = await principalOf(req);
    let parsed: { events: LedgerEvent[]; where: (i: number) => string };
    try {
      parsed = parseBody(String(req.body ?? ""), req.headers["content-type"] ?? "", config.maxEvents);
    } catch (error) {
      if (error instanceof InvalidBatchError) {
        metrics.refused.inc({ reason: "invalid" });
        return reply.code(400).send({
          error: `invalid events; nothing was published: ${describeProblems(error.problems, 3)}`,
          problems: error.problems,
        });
      }
      throw error;
    }
    const { events } = parsed;
    authorizeEvents(principal, events, parsed.where);
    if (principal.kind === "key") await ownTracesOnly(deps.runIndex, principal.key, events, parsed.where);
    // Every request counts toward the key's rate, whatever it carries (§6.1), an empty one too.
    // Serialized once: the bytes counted are those of the event as published.
    const values = events.map((e) => JSON.stringify(e));
    const charges = events.map((e, i) => chargeOf(e, Buffer.byteLength(values[i]!)));
    if (!(await intake.accept(reply, { principal, rateClass: rateClassOf(req.method, req.url), events, charges, receivedAt, values }))) return reply;
    if (principal.kind === "key") {
      const created = events.flatMap((e) => (e.type === "trace-created" ? [e.trace_id] : []));
      await deps.runIndex.claimTraces(principal.key.orgId, principal.key.workspaceId, created);
    }
    return reply.code(202).send({ accepted: events.length });
  });

  app.get("/v1/usage", async (req, reply) => {
    const principal = await principalOf(req);
    const query = queryParameters(usageParams, req.query, "/v1/usage");
    if (principal.kind === "key") {
      query.org ??= principal.key.orgId;
      authorizeOrg(principal, query.org);
    }
    if (!(await admitRead(deps, principal, req, reply))) return reply;
    return { rows: await deps.usage(query) };
  });

  registerAdminRoutes(app, deps, principalOf);
  registerInvoiceRoutes(app, deps, principalOf);
  registerUsageRoutes(app, deps, principalOf);
  registerLangSmithRoutes(app, deps, intake, deps.runIndex, principalOf, metrics);

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    try {
      await deps.ready();
      return { status: "ready" };
    } catch (error) {
      return unavailable(reply, `not ready: ${(error as Error).message}`);
    }
  });
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", deps.registry.contentType);
    const more = deps.moreMetrics ? await deps.moreMetrics() : "";
    return (await deps.registry.metrics()) + (more ? `\n${more}` : "");
  });
  return app;
}

/**
 * A workspace key's events name traces of its own workspace, or of none the ledger knows of:
 * the run index holds the workspace of every trace created through the LangSmith API or with a
 * workspace key here (the API tier's platform key may name any).
 */
async function ownTracesOnly(runIndex: RunTraceIndex, key: { orgId: string; workspaceId: string }, events: readonly LedgerEvent[], where: (i: number) => string): Promise<void> {
  const traceIds = events.flatMap((e) => ("trace_id" in e ? [e.trace_id] : []));
  if (traceIds.length === 0) return;
  const owners = await runIndex.traceOwners(key.orgId, traceIds);
  const i = events.findIndex((e) => "trace_id" in e && (owners.get(e.trace_id) ?? key.workspaceId) !== key.workspaceId);
  if (i < 0) return;
  throw new AccessError(403, `${where(i)}: trace_id ${(events[i] as { trace_id: string }).trace_id} is a trace of another workspace; a key writes its own workspace's traces only; nothing was published`);
}

/** The route a request matched (its pattern, not its URL: ids stay out of labels and logs). */
const routeOf = (req: FastifyRequest) => req.routeOptions?.url ?? "(no route)";

const refusalReason = (status: number) => (status === 413 ? "too_large" : status === 408 ? "timeout" : status === 429 ? "limited" : status >= 500 ? "unavailable" : "invalid");

function unavailable(reply: FastifyReply, message: string) {
  return reply.code(503).header("retry-after", "5").send({ error: message });
}

/**
 * What an input event adds to the counters of §6: one event, its JSON text as bytes (as the
 * ledger publishes it: normalized, without insignificant white space), a trace creation, and a
 * possible upgrade (an extended creation or a trigger).
 */
function chargeOf(e: LedgerEvent, bytes: number): EventCharge {
  // Seat events belong to no workspace; they count toward the organization's hourly figures.
  const charge: EventCharge = { orgId: e.org_id, workspaceId: "workspace_id" in e ? e.workspace_id : "", eventId: e.id, bytes };
  if (e.type === "seat-added" || e.type === "seat-removed" || e.type === "deployment-run") return charge;
  if (e.type === "trace-created") {
    charge.createsTrace = e.trace_id;
    if (e.retention === "extended") charge.extendsTrace = e.trace_id;
  } else {
    charge.extendsTrace = e.trace_id;
  }
  return charge;
}

function parseBody(body: string, contentType: string, maxEvents: number): { events: LedgerEvent[]; where: (i: number) => string } {
  let items: unknown[];
  let position: (i: number) => { index?: number; line?: number } = (i) => ({ index: i });
  let where = (i: number) => `event ${i}`;
  if (contentType.startsWith("application/x-ndjson")) {
    const parsed = parseNdjson(body);
    items = parsed.values;
    position = (i) => ({ line: parsed.lines[i]! });
    where = (i) => `line ${parsed.lines[i]!}`;
  } else {
    const value = parseJsonText(body, "body");
    if (!Array.isArray(value)) throw new RequestError(400, { error: "body must be a JSON array of events" });
    items = value;
  }
  if (items.length > maxEvents) {
    throw new RequestError(413, { error: `${items.length} events in one request; at most ${maxEvents} are allowed` });
  }
  return { events: validateBatchOf(INGEST_EVENTS, items, position), where };
}
