import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { describeProblems, INGEST_EVENTS, InvalidBatchError, parseNdjson, validateBatchOf, type LedgerEvent } from "@ledger/events";
import { rateClassOf, type Clock, type EventCharge } from "@ledger/limits";
import type { RunTraceIndex } from "@ledger/redis";
import { AccessError, authorizeEvents, type Authenticator } from "../auth/authentication";
import type { EventIntake } from "../intake/event-intake";
import type { ApiMetrics } from "../intake/metrics";
import { parseJsonText } from "../http/json-text";
import { described } from "../http/operation";
import { RequestError } from "../http/request-error";

export interface EventRoutesOptions {
  auth: Authenticator;
  intake: EventIntake;
  runIndex: RunTraceIndex;
  clock: Clock;
  metrics: ApiMetrics;
  /** The most events one request may carry (413 beyond). */
  maxEvents: number;
}

/**
 * `POST /v1/events`: a JSON array or NDJSON of input events, validated all or nothing (400
 * naming every bad event), authorized (a workspace key writes its own workspace's events only),
 * limited (§6) and published; 202 once Kafka acknowledged every event.
 */
export async function eventRoutes(app: FastifyInstance, o: EventRoutesOptions): Promise<void> {
  app.post("/v1/events", described(eventsOperation(o.maxEvents)), async (req, reply) => {
    const receivedAt = o.clock.now();
    const principal = await o.auth.principalOf(req);
    let parsed: { events: LedgerEvent[]; where: (i: number) => string };
    try {
      parsed = parseBody(String(req.body ?? ""), req.headers["content-type"] ?? "", o.maxEvents);
    } catch (error) {
      if (error instanceof InvalidBatchError) {
        o.metrics.refused.inc({ reason: "invalid" });
        return reply.code(400).send({
          error: `invalid events; nothing was published: ${describeProblems(error.problems, 3)}`,
          problems: error.problems,
        });
      }
      throw error;
    }
    const { events } = parsed;
    authorizeEvents(principal, events, parsed.where);
    if (principal.kind === "key") await ownTracesOnly(o.runIndex, principal.key, events, parsed.where);
    // Every request counts toward the key's rate, whatever it carries (§6.1), an empty one too.
    // Serialized once: the bytes counted are those of the event as published.
    const values = events.map((e) => JSON.stringify(e));
    const charges = events.map((e, i) => chargeOf(e, Buffer.byteLength(values[i]!)));
    if (!(await o.intake.accept(reply, { principal, rateClass: rateClassOf(req.method, req.url), events, charges, receivedAt, values }))) return reply;
    if (principal.kind === "key") {
      const created = events.flatMap((e) => (e.type === "trace-created" ? [e.trace_id] : []));
      await o.runIndex.claimTraces(principal.key.orgId, principal.key.workspaceId, created);
    }
    return reply.code(202).send({ accepted: events.length });
  });

}

const eventsOperation = (maxEvents: number) =>
  ({
    summary: "Publish events",
    description: `Trace events (trace-created, feedback-added, queue-added, rule-matched) and billing events (seat-added, seat-removed, deployment-run), at most ${maxEvents} a request, as a JSON array or NDJSON (application/x-ndjson, one event a line). All or nothing: a 400 names every bad event by index or line. A workspace key writes its own workspace's events only.`,
    tag: "events",
    auth: "org-key-or-platform",
    body: {
      schema: z.array(INGEST_EVENTS.schema),
      contentTypes: ["application/json", "application/x-ndjson"],
      example: [{ id: "evt-1", type: "trace-created", occurred_at: "2024-06-03T10:00:00Z", org_id: "acme", workspace_id: "prod", trace_id: "t-1", project_id: "chatbot", retention: "base" }],
    },
    answers: { 202: { description: "Kafka acknowledged every event", schema: z.object({ accepted: z.number().int() }), example: { accepted: 1 } } },
    refusals: [402, 429, 503],
  }) as const;

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
