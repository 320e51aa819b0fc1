import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { AccountEvent } from "@ledger/events";
import type { Clock } from "@ledger/limits";
import type { RunTraceIndex } from "@ledger/redis";
import type { AccountCache } from "./auth/account-cache";
import type { Authenticator } from "./auth/authentication";
import type { LedgerBackend } from "./backend/contract";
import type { ApiConfig } from "./config";
import type { RegisteredRoute } from "./http/openapi";
import { installRequestHandling } from "./http/request-handling";
import type { Admission } from "./intake/admission";
import type { EventIntake } from "./intake/event-intake";
import type { ApiMetrics } from "./intake/metrics";
import { accountRoutes } from "./routes/admin/accounts";
import { billingAdminRoutes } from "./routes/admin/billing";
import { replicaSourceRoutes } from "./routes/admin/replica-sources";
import { analystRoutes } from "./routes/analyst";
import { eventRoutes } from "./routes/events";
import { invoiceRoutes } from "./routes/invoices";
import { langsmithRoutes } from "./routes/langsmith/runs";
import { opsRoutes } from "./routes/ops";
import { usageRoutes } from "./routes/usage";
import { usagePageRoutes } from "./routes/usage-page";

/** The API's version, as `/info` and `/openapi.json` give it. */
export const API_VERSION = "0.1.0";

/** The parts of one API replica that its routes are built from (see runtime.ts). */
export interface ApiParts {
  config: ApiConfig;
  auth: Authenticator;
  accounts: AccountCache;
  admission: Admission;
  intake: EventIntake;
  runIndex: RunTraceIndex;
  backend: LedgerBackend;
  clock: Clock;
  metrics: ApiMetrics;
  registry: Registry;
  /** Publishes an account event to the accounts topic and resolves after Kafka acknowledged it. */
  publishAccount: (event: AccountEvent) => Promise<void>;
  log?: (line: string) => void;
}

/**
 * The ledger's HTTP API: each concern a fastify plugin registered with exactly what it uses.
 * Every request but the page, `/info` and the ops routes carries a key (§7); every write passes
 * the limits of §6 before anything is published.
 */
export function buildApiServer(p: ApiParts): FastifyInstance {
  const { config } = p;
  const app = Fastify({
    bodyLimit: config.maxBytes,
    logger: false,
    // Path parameters longer than an id may be get to the route, which says what is wrong with
    // them (fastify's own limit, 100, answered a bare "Bad Request").
    routerOptions: { maxParamLength: 1_000 },
    // A client that trickles its request cannot hold a connection: its headers must arrive
    // within 10 s (Node answers 408 and closes, checked every second), its body within
    // requestTimeoutMs (requestBody).
    http: { headersTimeout: Math.min(config.requestTimeoutMs, 10_000), connectionsCheckingInterval: 1_000 },
  });
  // Every route as registered, with what it says of itself, for /openapi.json.
  const registered: RegisteredRoute[] = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) registered.push({ method, url: route.url, operation: route.config?.operation });
  });
  installRequestHandling(app, { maxBytes: config.maxBytes, requestTimeoutMs: config.requestTimeoutMs, metrics: p.metrics, log: p.log });

  const { auth, accounts, admission, intake, runIndex, backend, clock, metrics } = p;
  void app.register(eventRoutes, { auth, intake, runIndex, clock, metrics, maxEvents: config.maxEvents });
  void app.register(langsmithRoutes, { auth, intake, runIndex, accounts, clock, metrics, backend, maxBytes: config.maxBytes, advertiseGzip: config.advertiseGzip, advertiseZstd: config.advertiseZstd });
  void app.register(usageRoutes, { auth, accounts, admission, clock, backend });
  void app.register(usagePageRoutes);
  void app.register(invoiceRoutes, { auth, admission, clock, backend });
  void app.register(accountRoutes, { auth, accounts, admission, clock, publishAccount: p.publishAccount, earlyUserCreditUsd: config.earlyUserCreditUsd });
  void app.register(billingAdminRoutes, { auth, backend });
  void app.register(replicaSourceRoutes, { auth, backend });
  void app.register(analystRoutes, { auth, backend });
  void app.register(opsRoutes, { registry: p.registry, backend, routes: () => registered, version: API_VERSION });
  return app;
}
