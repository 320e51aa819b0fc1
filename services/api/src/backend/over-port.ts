import type { MessagePort } from "node:worker_threads";
import { BACKEND_METHODS, LedgerRefusal, refusalOf, type BackendMethod, type LedgerBackend, type Refusal } from "./contract";

type Call = { id: number; method: BackendMethod; args: unknown[] };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; refusal: Refusal | null; message: string };

/**
 * Answers the contract's calls that arrive on `port` with `backend`: the side of a worker
 * thread's channel that holds ClickHouse. A refusal goes back as data; any other failure as its
 * sentence only.
 */
export function serveBackend(port: MessagePort, backend: LedgerBackend): void {
  port.on("message", async (call: Call) => {
    let reply: Reply;
    try {
      const method = backend[call.method] as (...args: unknown[]) => Promise<unknown>;
      reply = { id: call.id, ok: true, value: await method.apply(backend, call.args) };
    } catch (error) {
      reply = { id: call.id, ok: false, refusal: refusalOf(error), message: (error as Error).message };
    }
    port.postMessage(reply);
  });
}

/** The contract as seen from the other side of `port` (the API's thread). */
export function backendOverPort(port: MessagePort): LedgerBackend {
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  port.on("message", (reply: Reply) => {
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(reply.refusal ? LedgerRefusal.of(reply.refusal) : new Error(reply.message));
  });
  const call = (method: BackendMethod, args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      port.postMessage({ id, method, args } satisfies Call);
    });
  return Object.fromEntries(BACKEND_METHODS.map((m) => [m, (...args: unknown[]) => call(m, args)])) as unknown as LedgerBackend;
}
