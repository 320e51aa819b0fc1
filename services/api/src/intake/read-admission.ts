import type { FastifyReply } from "fastify";
import { rateClassOf, refusalBody } from "@ledger/limits";
import type { Principal } from "../auth/authentication";
import type { Clock } from "@ledger/limits";
import type { Admission } from "./admission";

/**
 * A read (usage, invoices, limits) counts toward its key's rate like any request (§6.1): true when
 * admitted; otherwise the 429 of §6.4 with `Retry-After` has been sent and the route stops.
 */
export async function admitRead(deps: { admission: Admission; clock: Clock }, principal: Principal, req: { method: string; url: string }, reply: FastifyReply): Promise<boolean> {
  const decision = await deps.admission.admit(principal, rateClassOf(req.method, req.url), []);
  if (decision.admitted) return true;
  const body = refusalBody(decision.refusal, deps.clock.now());
  await reply.code(429).header("retry-after", String(body.retry_after_s)).send(body);
  return false;
}
