import type { FastifyReply } from "fastify";
import { ingestGate, personalSeatOrgs, personalSeatRefusal, type AccountDirectory, type GateRefusal } from "@ledger/accounts";
import type { LedgerEvent } from "@ledger/events";
import { isRetriable, type KeyedMessage, type LagGovernor } from "@ledger/kafka";
import { refusalBody, type Clock, type EventCharge, type RateClass } from "@ledger/limits";
import type { Admission } from "./admission";
import type { Principal } from "../auth/authentication";
import { messageKeyOf, type EventPublisher } from "./event-publisher";
import type { ApiMetrics } from "./metrics";

/**
 * The one path from a validated, authorized request to Kafka, for `POST /v1/events` and the
 * LangSmith API alike: the limits of §6 (what the request adds, as charges), backpressure, then
 * publishing, answered 202 only after Kafka acknowledged every event.
 */
export class EventIntake {
  constructor(
    private readonly deps: {
      admission: Admission;
      /** The accounts as this replica knows them, for the plans' gates (G1, G2). */
      accounts: () => AccountDirectory;
      /** G2: an organization's seat holders as the ledger knows them. */
      seatHolders: (org: string) => Promise<string[]>;
      publisher: EventPublisher;
      /** Run data (§9) to the runs topic, acknowledged by Kafka. */
      publishRuns: (messages: readonly KeyedMessage[]) => Promise<void>;
      runsTopic: string;
      governor?: LagGovernor;
      clock: Clock;
      metrics: ApiMetrics;
      backpressureMs: number;
    },
  ) {}

  /** G1 and G2; a personal organization's seat holders are asked for only when a seat is added to one. */
  private async gate(events: readonly LedgerEvent[], keyOrg: string | undefined): Promise<GateRefusal | null> {
    const directory = this.deps.accounts();
    const refusal = ingestGate(directory, events, keyOrg);
    if (refusal) return refusal;
    for (const org of personalSeatOrgs(directory, events)) {
      const seat = personalSeatRefusal(org, await this.deps.seatHolders(org), events);
      if (seat) return seat;
    }
    return null;
  }

  /** Sends the answer itself (402, 403, 429, 503) and returns false when the events were not accepted. */
  async accept(
    reply: FastifyReply,
    request: {
      principal: Principal;
      rateClass: RateClass;
      events: readonly LedgerEvent[];
      charges: readonly EventCharge[];
      receivedAt: number;
      values?: readonly string[];
      /** Run data that travels with the events: published too, or the request is not accepted. */
      runs?: readonly KeyedMessage[];
    },
  ): Promise<boolean> {
    const { metrics } = this.deps;
    // The plans' gates come before the limits: a refused request counts toward nothing.
    const gate = await this.gate(request.events, request.principal.kind === "key" ? request.principal.key.orgId : undefined);
    if (gate) {
      metrics.refused.inc({ reason: gate.rule === "G1" ? "payment_required" : "forbidden" }, Math.max(1, request.events.length));
      await reply.code(gate.status).send({ error: gate.message, rule: gate.rule });
      return false;
    }
    const decision = await metrics.timed("limits", () => this.deps.admission.admit(request.principal, request.rateClass, request.charges));
    if (!decision.admitted) {
      metrics.refused.inc({ reason: "limited" }, request.events.length);
      const body = refusalBody(decision.refusal, this.deps.clock.now());
      await reply.code(429).header("retry-after", String(body.retry_after_s)).send(body);
      return false;
    }
    const runs = request.runs ?? [];
    if (request.events.length === 0 && runs.length === 0) return true;
    try {
      // Each message counts on the partition its key sends it to (the runs topic's weigh more).
      const incoming = [
        { topic: this.deps.publisher.topic, keys: request.events.map(messageKeyOf) },
        { topic: this.deps.runsTopic, keys: runs.map((m) => m.key) },
      ];
      if (this.deps.governor) await metrics.timed("backpressure", () => this.deps.governor!.waitForRoom(this.deps.backpressureMs, incoming));
      // Both or a retry: a client retrying after a 503 re-sends both, and both are idempotent.
      await metrics.timed("publish", () => Promise.all([this.deps.publisher.publish(request.events, request.receivedAt, request.values), runs.length > 0 ? this.deps.publishRuns(runs) : undefined]));
    } catch (error) {
      if (!isRetriable(error)) throw error;
      metrics.refused.inc({ reason: "unavailable" }, request.events.length);
      await reply.code(503).header("retry-after", "5").send({ error: `events not accepted, retry later: ${(error as Error).message}` });
      return false;
    }
    metrics.accepted.inc(request.events.length);
    return true;
  }
}
