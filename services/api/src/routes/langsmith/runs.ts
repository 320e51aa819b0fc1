import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { describeProblems, InvalidBatchError, RECEIVED_AT_HEADER, traceKey, validateBatch, type InputEvent } from "@ledger/events";
import { rateClassOf, type Clock, type EventCharge } from "@ledger/limits";
import {
  feedbackAddedOf,
  feedbackCreate,
  queueRunIds,
  queueAddedOf,
  queueRunKeys,
  rootAnchorOf,
  runMessagesOf,
  runCharge,
  runCreate,
  servedRunOf,
  storedRunPartsOf,
  type StoredAttachment,
  type TraceAnchor,
  runUpdate,
  sentRunText,
  type SentRun,
  traceCreatedOf,
  traceOf,
  type RunContext,
  type FeedbackCreate,
  type RunCreate,
  type RunUpdate,
} from "@ledger/langsmith";
import type { RunTraceIndex } from "@ledger/redis";
import type { AccountCache } from "../../auth/account-cache";
import { AccessError, type Authenticator, type Principal } from "../../auth/authentication";
import type { LedgerBackend } from "../../backend/contract";
import type { EventIntake } from "../../intake/event-intake";
import type { ApiMetrics } from "../../intake/metrics";
import { described, type Operation } from "../../http/operation";
import { RequestError } from "../../http/request-error";
import { readRunParts } from "./multipart";
import { parseJsonText } from "../../http/json-text";
import type { Readable } from "node:stream";

type Req = FastifyRequest<{ Params: Record<string, string>; Body: unknown }>;

/** Every LangSmith path with and without the `/api/v1` prefix (§8). */
const both = (path: string) => [path, `/api/v1${path}`];

const parseJson = (body: unknown): unknown => (typeof body === "string" ? parseJsonText(body, "body") : body);

/** A run a key refers to that is not its workspace's: answered as a run that does not exist. */
const noSuchRuns = (runIds: readonly string[]) =>
  new RequestError(404, { error: `run_id ${runIds.slice(0, 5).join(", ")}${runIds.length > 5 ? ` and ${runIds.length - 5} more` : ""}: no such run is known to the ledger in the key's workspace; nothing was published` });

/** Parses with a schema; a refusal is one sentence naming each field. */
function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const sentences = r.error.issues.map((i) => `${[what, ...i.path].join(".")} ${i.message}`);
  throw new RequestError(400, { error: `${sentences.join("; ")}; nothing was published` });
}

/** L1–L6 through the same validation as `POST /v1/events`: a mapped event that breaks a rule is a 400 naming it. */
function validated(events: Record<string, unknown>[]): InputEvent[] {
  try {
    return validateBatch(events);
  } catch (error) {
    if (!(error instanceof InvalidBatchError)) throw error;
    throw new RequestError(400, { error: `the request maps to invalid ledger events; nothing was published: ${describeProblems(error.problems, 3)}`, problems: error.problems });
  }
}

const runPath = z.object({ id: queueRunIds.element });
const queuePath = z.object({ queue: queueRunIds.element });
/** `POST /runs/batch`: runs to create and runs to update, each checked as `POST /runs` checks one. */
const runBatch = z.object({ post: z.array(runCreate).optional(), patch: z.array(runCreate).optional() });
/** A multipart body's parts, by name (§8); each JSON part is read as the route for its kind reads it. */
const runParts = z.record(z.string(), z.string()).meta({
  description: "Parts named post.<run id>, patch.<run id> (a run's JSON, or its fields as post.<id>.inputs, .outputs, .events…), feedback.<id>, attachment.<run id>.<name>; each JSON part gzip or zstd as its Content-Encoding says.",
});
const ingested = { 202: { description: "every event Kafka acknowledged, every run part stored", schema: z.object({ message: z.string() }), example: { message: "Runs batch ingested" } } };
const runExample = { id: "0190a6c4-6a2e-7000-8000-000000000001", trace_id: "0190a6c4-6a2e-7000-8000-000000000001", name: "chain", run_type: "chain", start_time: "2024-06-03T10:00:00Z", session_name: "chatbot", inputs: { question: "hi" } };
const ingest = (summary: string, body: Operation["body"], more: Partial<Operation> = {}): Operation => ({
  summary,
  tag: "langsmith",
  auth: "workspace-key",
  ...(body ? { body } : {}),
  answers: ingested,
  refusals: [402, 403, 404, 429, 503],
  ...more,
});

export interface LangSmithRoutesOptions {
  auth: Authenticator;
  intake: EventIntake;
  runIndex: RunTraceIndex;
  accounts: AccountCache;
  clock: Clock;
  metrics: ApiMetrics;
  backend: Pick<LedgerBackend, "retainedRunParts">;
  /** The body limit, which `/info` tells clients too. */
  maxBytes: number;
  /** What `/info` tells clients to compress with (both are always read). */
  advertiseGzip: boolean;
  advertiseZstd: boolean;
}

/**
 * The LangSmith run-ingest API (§8) on the ledger's one intake path: runs, feedback and queue
 * entries become trace events (L1–L3) with ids derived from the client's (L5), counted and
 * limited as §6.2 says (L4), published like `POST /v1/events`.
 */
export async function langsmithRoutes(app: FastifyInstance, o: LangSmithRoutesOptions): Promise<void> {
  const { intake, runIndex, metrics } = o;
  const indexed = <T>(work: () => Promise<T>) => metrics.timed("run_index", work);
  const workspaceKey = (req: Req) => o.auth.workspaceKey(req);
  const contextOf = (principal: Extract<Principal, { kind: "key" }>): RunContext => {
    const directory = o.accounts.current;
    const { orgId, workspaceId } = principal.key;
    return {
      orgId,
      workspaceId,
      retentionFor: (project) => directory.retentionFor(orgId, workspaceId, project),
      retentionDefaultOf: (project) => directory.retentionOf(orgId, workspaceId, project).from,
      receivedAt: new Date(o.clock.now()).toISOString(),
    };
  };

  const info = described({
    summary: "What the SDK asks first: the body limit and the compressions read",
    tag: "langsmith",
    auth: "none",
    answers: { 200: { description: "the batch ingest configuration", schema: z.object({ version: z.string(), batch_ingest_config: z.record(z.string(), z.unknown()), instance_flags: z.record(z.string(), z.boolean()) }) } },
  });
  for (const path of both("/info")) {
    app.get(path, info, async () => ({
      version: "ledger-0.1.0",
      batch_ingest_config: { use_multipart_endpoint: true, size_limit_bytes: o.maxBytes, size_limit: 100, scale_up_qsize_trigger: 1000, scale_up_nthreads_limit: 4, scale_down_nempty_trigger: 4 },
      instance_flags: { gzip_body_enabled: o.advertiseGzip, zstd_compression_enabled: o.advertiseZstd },
    }));
  }

  /**
   * The trace of each run: given, else as the ledger knows it in the key's workspace (L2, L3).
   * A run of another workspace is, to this key, a run that does not exist: 404 alike, so a key
   * neither acts on another workspace's runs nor learns which exist.
   */
  const tracesOf = async (ctx: RunContext, runIds: string[], given: Map<string, string>) => {
    const missing = runIds.filter((r) => !given.has(r));
    const known = await indexed(() => runIndex.runs(ctx.orgId, missing));
    const unknown = missing.filter((r) => known.get(r)?.workspaceId !== ctx.workspaceId);
    if (unknown.length > 0) throw noSuchRuns(unknown);
    return (runId: string) => given.get(runId) ?? known.get(runId)!.traceId;
  };

  /** Feedback that names its trace: a trace of another workspace is refused like an unknown run (404). */
  const ownTracesNamed = async (ctx: RunContext, named: readonly { runId: string; traceId: string }[]) => {
    const owners = await indexed(() => runIndex.traceOwners(ctx.orgId, named.map((n) => n.traceId)));
    const foreign = named.filter((n) => (owners.get(n.traceId) ?? ctx.workspaceId) !== ctx.workspaceId);
    if (foreign.length > 0) throw noSuchRuns(foreign.map((n) => n.runId));
  };

  /** Creations and updates of runs: one event each (L4); root creations become traces (L1). */
  const ingestRuns = async (
    req: Req,
    reply: FastifyReply,
    posts: RunCreate[],
    patches: (RunUpdate & { id: string })[],
    feedback: FeedbackCreate[] = [],
    attachmentBytes: Map<string, number> = new Map(),
    attachments: Map<string, StoredAttachment[]> = new Map(),
    sent: ReadonlyMap<string, SentRun> = new Map(),
  ) => {
    const principal = await workspaceKey(req);
    const ctx = contextOf(principal);
    const receivedAt = o.clock.now();
    const wire = posts.flatMap((run) => {
      const created = traceCreatedOf(run, ctx);
      return created ? [created] : [];
    });
    // The traces this request names — a creation's (its trace_id, or its own id for a root), an
    // update's trace_id, feedback's trace_id — must be the key's workspace's or nobody's yet (§7:
    // a key writes its own workspace only). An update that names none goes where its run is.
    const traces = [...posts, ...patches.filter((p) => p.trace_id !== undefined)].flatMap((run) => {
      const trace = traceOf(run);
      return trace ? [{ runId: run.id, traceId: trace }] : [];
    });
    const namedTraces = feedback.flatMap((f) => (f.trace_id ? [{ runId: f.run_id, traceId: f.trace_id }] : []));
    const unnamed = patches.filter((p) => p.trace_id === undefined);
    // An unnamed update of a run the ledger never saw, without a parent, would root its own trace.
    const wouldRoot = unnamed.filter((p) => !p.parent_run_id).map((p) => p.id);
    const [owners, looked] = await Promise.all([
      indexed(() => runIndex.traceOwners(ctx.orgId, [...traces, ...namedTraces].map((t) => t.traceId).concat(wouldRoot))),
      indexed(() => runIndex.runs(ctx.orgId, unnamed.map((p) => p.id))),
    ]);
    const foreign = (t: { traceId: string }) => (owners.get(t.traceId) ?? ctx.workspaceId) !== ctx.workspaceId;
    if (namedTraces.some(foreign)) throw noSuchRuns(namedTraces.filter(foreign).map((t) => t.runId));
    const intruder = traces.find(foreign);
    if (intruder) throw new AccessError(403, `run ${intruder.runId}: trace_id ${intruder.traceId} is a trace of another workspace; a key writes runs of its own workspace's traces only; nothing was published`);
    // An unnamed update joins its run's trace if the run is this workspace's. Another workspace's
    // run (or the trace its id would root) is one the ledger never saw: the update is counted,
    // answered alike, and kept with nothing.
    for (const p of unnamed) {
      const known = looked.get(p.id);
      const trace = known ? (known.workspaceId === ctx.workspaceId ? known.traceId : undefined) : !p.parent_run_id && !foreign({ traceId: p.id }) ? p.id : undefined;
      if (trace !== undefined) traces.push({ runId: p.id, traceId: trace });
    }
    // Feedback in a batch names its trace, or a run of this batch or one the ledger knows.
    const batchTraces = new Map(traces.map((t) => [t.runId, t.traceId] as const));
    const trace = await tracesOf(ctx, feedback.map((f) => f.run_id), new Map([...batchTraces, ...namedTraces.map((n) => [n.runId, n.traceId] as const)]));
    wire.push(...feedback.map((f) => feedbackAddedOf(f, trace(f.run_id), ctx)));
    const events = validated(wire);
    const extended = new Set(events.flatMap((e) => (e.type === "trace-created" && e.retention === "extended" ? [e.trace_id] : [])));
    const posted = new Set(posts.map((p) => p.id));
    const charges: EventCharge[] = [
      ...posts.map((run) => {
        const charge = runCharge(run, "post", run.id, ctx, attachmentBytes.get(run.id) ?? 0, sent.get(`post.${run.id}`)?.fieldBytes);
        return charge.createsTrace && extended.has(charge.createsTrace) ? { ...charge, extendsTrace: charge.createsTrace } : charge;
      }),
      ...patches.map((run) => runCharge(run, "patch", run.id, ctx, posted.has(run.id) ? 0 : (attachmentBytes.get(run.id) ?? 0), sent.get(`patch.${run.id}`)?.fieldBytes)),
      ...events.flatMap((e) => (e.type === "feedback-added" ? [{ orgId: e.org_id, workspaceId: e.workspace_id, eventId: e.id, bytes: 0, extendsTrace: e.trace_id, countsAsEvent: false }] : [])),
    ];
    // The run data (§9), each part expiring by its trace's anchor: the root run's creation and
    // retention, from this request or as remembered from an earlier one.
    const roots = new Map(posts.flatMap((run) => {
      const anchor = rootAnchorOf(run, ctx);
      return anchor ? [[run.id, anchor] as const] : [];
    }));
    const traceOfRun = (runId: string) => batchTraces.get(runId);
    const named = [...new Set(traces.map((t) => t.traceId))];
    const known = await indexed(() => runIndex.anchors(ctx.orgId, named.filter((t) => !roots.has(t))));
    const anchorOf = (traceId: string): TraceAnchor | undefined => roots.get(traceId) ?? known.get(traceId);
    const textOf = (kind: "post" | "patch", runId: string) => {
      const as = sent.get(`${kind}.${runId}`);
      return as ? sentRunText(runId, as) : undefined;
    };
    const { parts, standIns } = storedRunPartsOf(posts, patches, attachments, ctx, traceOfRun, anchorOf, textOf);
    const runs = runMessagesOf(parts, receivedAt).map((b) => ({ key: traceKey(b.orgId, b.traceId), value: b.value, headers: { [RECEIVED_AT_HEADER]: String(receivedAt) } }));
    if (!(await intake.accept(reply, { principal, rateClass: rateClassOf(req.method, req.url), events, charges, receivedAt, runs }))) return reply;
    const anchors = [
      ...[...roots].map(([traceId, anchor]) => ({ traceId, anchor, root: true })),
      ...[...standIns].map(([traceId, anchor]) => ({ traceId, anchor, root: false })),
    ];
    await indexed(() => runIndex.remember(ctx.orgId, traces.map((t) => ({ ...t, workspaceId: ctx.workspaceId })), anchors));
    return reply.code(202).send({ message: "Runs batch ingested" });
  };

  for (const path of both("/runs")) {
    app.post(path, described(ingest("Create a run (a root run creates a trace, L1)", { schema: runCreate, contentTypes: ["application/json"], example: runExample })), async (req: Req, reply) => ingestRuns(req, reply, [parse(runCreate, parseJson(req.body), "run")], []));
  }
  for (const path of both("/runs/:id")) {
    app.patch(path, described(ingest("Update a run", { schema: runUpdate, contentTypes: ["application/json"], example: { end_time: "2024-06-03T10:00:05Z", outputs: { answer: "hello" } } }, { params: runPath })), async (req: Req, reply) => {
      const update = parse(runUpdate, parseJson(req.body), "run");
      return ingestRuns(req, reply, [], [{ ...update, id: req.params.id! }]);
    });
  }
  // §9: a run is served while its trace is retained; after that, and for another workspace's
  // run, it does not exist (404, never 403: a key learns nothing of other workspaces).
  const runRead = described({
    summary: "Read a run while its trace is retained (§9)",
    tag: "langsmith",
    auth: "workspace-key",
    params: runPath,
    answers: { 200: { description: "the run as stored", schema: z.record(z.string(), z.unknown()) } },
    refusals: [404, 503],
  });
  for (const path of both("/runs/:id")) {
    app.get(path, runRead, async (req: Req, reply) => {
      const principal = await workspaceKey(req);
      const runId = parse(queueRunIds.element, req.params.id, "run_id");
      const parts = await o.backend.retainedRunParts({ orgId: principal.key.orgId, workspaceId: principal.key.workspaceId, runId, nowMs: o.clock.now() });
      const run = servedRunOf(parts);
      if (run === null) return reply.code(404).send({ error: `run ${runId} is not stored, or its trace's retention has ended (§9)` });
      return run;
    });
  }

  for (const path of both("/runs/multipart")) {
    app.post(path, described(ingest("Create and update runs, feedback and attachments in one multipart body (the SDK's batch)", { schema: runParts, contentTypes: ["multipart/form-data"] })), async (req: Req, reply) => {
      await workspaceKey(req); // before reading a byte of the body
      const parts = await metrics.timed("read_body", () => readRunParts(req.body as Readable, req.headers, o.maxBytes));
      const posts = [...parts.posts.values()].map((r) => parse(runCreate, r, `post.${String(r.id)}`));
      const patches = [...parts.patches.values()].map((r) => ({ ...parse(runUpdate, r, `patch.${String(r.id)}`), id: String(r.id) }));
      const feedback = parts.feedback.map((f) => parse(feedbackCreate, f, `feedback.${String(f.id)}`));
      return ingestRuns(req, reply, posts, patches, feedback, parts.attachmentBytes, parts.attachments, parts.sent);
    });
  }
  for (const path of both("/runs/batch")) {
    app.post(path, described(ingest("Create and update runs in one JSON body", { schema: runBatch, contentTypes: ["application/json"], example: { post: [runExample], patch: [] } })), async (req: Req, reply) => {
      const body = parseJson(req.body) as { post?: unknown; patch?: unknown };
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RequestError(400, { error: 'body must be a JSON object {"post": [...], "patch": [...]}' });
      const posts = Array.isArray(body.post) ? body.post.map((r, i) => parse(runCreate, r, `post.${i}`)) : [];
      const patches = Array.isArray(body.patch) ? body.patch.map((r, i) => parse(runCreate, r, `patch.${i}`)) : [];
      return ingestRuns(req, reply, posts, patches);
    });
  }

  const feedbackOperation = ingest("Add feedback to a run (a trigger, §4)", { schema: feedbackCreate, contentTypes: ["application/json"], example: { id: "f-1", run_id: runExample.id, key: "correctness", score: 1 } }, {
    answers: { 200: { description: "the feedback, with the trace it upgrades", schema: z.object({ id: z.string(), run_id: z.string(), trace_id: z.string() }) } },
  });
  for (const path of both("/feedback")) {
    app.post(path, described(feedbackOperation), async (req: Req, reply) => {
      const principal = await workspaceKey(req);
      const ctx = contextOf(principal);
      const feedback = parse(feedbackCreate, parseJson(req.body), "feedback");
      if (feedback.trace_id) await ownTracesNamed(ctx, [{ runId: feedback.run_id, traceId: feedback.trace_id }]);
      const trace = await tracesOf(ctx, [feedback.run_id], new Map(feedback.trace_id ? [[feedback.run_id, feedback.trace_id]] : []));
      const events = validated([feedbackAddedOf(feedback, trace(feedback.run_id), ctx)]);
      const charges = events.map((e) => ({ orgId: e.org_id, workspaceId: e.workspace_id, eventId: e.id, bytes: 0, extendsTrace: e.trace_id, countsAsEvent: false }));
      if (!(await intake.accept(reply, { principal, rateClass: rateClassOf(req.method, req.url), events, charges, receivedAt: o.clock.now() }))) return reply;
      return reply.code(200).send({ id: feedback.id, run_id: feedback.run_id, trace_id: trace(feedback.run_id) });
    });
  }

  const queueRoute = (runIdsOf: (body: unknown) => string[]) => async (req: Req, reply: FastifyReply) => {
    const principal = await workspaceKey(req);
    const ctx = contextOf(principal);
    const queueId = parse(queueRunIds.element, req.params.queue, "queue_id");
    const runIds = runIdsOf(parseJson(req.body));
    const trace = await tracesOf(ctx, runIds, new Map());
    const events = validated(runIds.map((runId) => queueAddedOf(queueId, runId, trace(runId), ctx)));
    const charges = events.map((e) => ({ orgId: e.org_id, workspaceId: e.workspace_id, eventId: e.id, bytes: 0, extendsTrace: e.trace_id, countsAsEvent: false }));
    if (!(await intake.accept(reply, { principal, rateClass: rateClassOf(req.method, req.url), events, charges, receivedAt: o.clock.now() }))) return reply;
    return reply.code(200).send(runIds.map((run_id) => ({ run_id, queue_id: queueId })));
  };
  const queued = { 200: { description: "each run as queued", schema: z.array(z.object({ run_id: z.string(), queue_id: z.string() })) } };
  const toQueue = described(ingest("Add runs to an annotation queue (a trigger, §4)", { schema: queueRunIds, contentTypes: ["application/json"], example: [runExample.id] }, { params: queuePath, answers: queued }));
  const toQueueByKey = described(ingest("Add runs to an annotation queue by their keys", { schema: queueRunKeys, contentTypes: ["application/json"], example: [{ run_id: runExample.id, session_id: "s-1", start_time: "2024-06-03T10:00:00Z" }] }, { params: queuePath, answers: queued }));
  for (const path of both("/annotation-queues/:queue/runs")) app.post(path, toQueue, queueRoute((body) => parse(queueRunIds, body, "runs")));
  for (const path of both("/annotation-queues/:queue/runs/by-key")) app.post(path, toQueueByKey, queueRoute((body) => parse(queueRunKeys, body, "runs").map((k) => k.run_id)));
}
