import type { FastifyInstance, FastifyRequest } from "fastify";
import { refusalOf } from "../backend/contract";
import type { ApiMetrics } from "../intake/metrics";
import { repeatedParameterProblem } from "./query-parameters";
import { requestBody } from "./request-body";
import { RequestError } from "./request-error";

export interface RequestHandlingOptions {
  maxBytes: number;
  requestTimeoutMs: number;
  metrics: ApiMetrics;
  /** Where a request the API failed to serve (a 500 it did not mean) is reported. */
  log?: (line: string) => void;
}

/**
 * What every request goes through before and after its route: query parameters given once,
 * bodies decoded as streams within their limits and their request's lifetime, the two body
 * parsers, and one error handler that answers every refusal by its data.
 */
export function installRequestHandling(app: FastifyInstance, o: RequestHandlingOptions): void {
  // A parameter given twice or as an array is refused on every route: a check that reads one
  // value must not be passed by another.
  app.addHook("onRequest", async (req) => {
    const problem = repeatedParameterProblem(req.query as Record<string, unknown>);
    if (problem) throw new RequestError(400, { error: problem });
  });

  // The body limit applies before and after decompression, and a body lives no longer than its
  // request (requestBody).
  app.addHook("preParsing", (req, reply, _payload, done) => {
    try {
      done(null, requestBody(req.raw, reply.raw, { maxBytes: o.maxBytes, timeoutMs: o.requestTimeoutMs }));
    } catch (error) {
      done(error as Error);
    }
  });

  // Both body types are parsed by the routes, not by fastify, so a malformed body gets the
  // ledger's sentence; multipart run batches are read as a stream by their route.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(["application/json", "application/x-ndjson"], { parseAs: "string" }, (_req, body, done) => done(null, body));
  app.addContentTypeParser("multipart/form-data", (_req, payload, done) => done(null, payload));

  // A refusal (a RequestError, an AccessError, or one from the backend: anything with a status
  // and `retriable`) is answered by its data; anything else is this request's failure: a 500
  // that is logged and counted, never the process's.
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    // fastify closes the connection after refusing a body; the rest of it is read and dropped
    // instead (requestBody, within the request's timeout), so a client still sending it reads
    // its answer rather than a broken pipe. A 408 closes: its client is not sending.
    if (reply.getHeader("connection") === "close") reply.removeHeader("connection");
    const refusal = refusalOf(error);
    if (refusal) {
      o.metrics.refused.inc({ reason: refusalReason(refusal.status) });
      if (refusal.status === 408) reply.header("connection", "close");
      // An engine that did not answer in time: the client's retry helps (the SDK retries 503),
      // and every effect of a request is idempotent, so a retry is safe.
      if (refusal.status === 503) reply.header("retry-after", "1");
      return reply.code(refusal.status).send(error instanceof RequestError ? error.body : { error: refusal.message });
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      o.metrics.refused.inc({ reason: "too_large" });
      return reply.code(413).send({ error: `request body is larger than ${o.maxBytes} bytes (before or after decompression); nothing was published; split it` });
    }
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return reply.code(415).send({ error: "Content-Type must be application/json (an array) or application/x-ndjson" });
    }
    if (error.code === "FST_ERR_CTP_INVALID_CONTENT_LENGTH") {
      o.metrics.refused.inc({ reason: "invalid" });
      return reply.code(400).send({ error: "the body's length is not the Content-Length sent; nothing was published" });
    }
    // An engine error that says a retry may help (Kafka, Redis, ClickHouse not answering).
    if ((error as { retriable?: unknown }).retriable === true) {
      o.metrics.refused.inc({ reason: "unavailable" });
      return reply.code(503).header("retry-after", "1").send({ error: `${error.message}; retry later (a retried request counts once)` });
    }
    // fastify's own refusals of a request as sent (a malformed URL, say) keep their 4xx.
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return reply.code(error.statusCode).send({ error: error.message });
    o.metrics.failed.inc({ route: routeOf(req) });
    o.log?.(`api: ${req.method} ${routeOf(req)} failed (request ${req.id}): ${error.stack ?? error.message}`);
    return reply.code(500).send({ error: `the ledger could not serve this request (request ${req.id}, logged); nothing was published by it` });
  });
}

/** The route a request matched (its pattern, not its URL: ids stay out of labels and logs). */
const routeOf = (req: FastifyRequest) => req.routeOptions?.url ?? "(no route)";

const refusalReason = (status: number) => (status === 413 ? "too_large" : status === 408 ? "timeout" : status === 429 ? "limited" : status === 401 ? "unauthenticated" : status === 403 ? "forbidden" : status >= 500 ? "unavailable" : "invalid");
