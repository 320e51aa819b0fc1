import { createServer, type Server } from "node:http";
import type { LedgerStack } from "@ledger/stack";

export interface OpsListener {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * For a process without the API: `/healthz` (the process answers), `/readyz` (its roles are
 * running and its engines answer; 503 with the reason otherwise) and `/metrics` (Prometheus text).
 */
export async function startOpsListener(stack: LedgerStack, host: string, port: number): Promise<OpsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: `${req.method} is not allowed here; the ops listener answers GET` });
    if (path === "/healthz") return json(200, { status: "ok" });
    if (path === "/readyz") {
      stack.ready().then(
        () => json(200, { status: "ready", roles: [...stack.roles] }),
        (error: Error) => json(503, { status: "not ready", error: error.message, retriable: true }),
      );
      return;
    }
    if (path === "/metrics") {
      stack.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": stack.registry.contentType }).end(text),
        (error: Error) => json(500, { error: `metrics could not be collected: ${error.message}`, retriable: true }),
      );
      return;
    }
    json(404, { error: `no ${path} here; the ops listener answers /healthz, /readyz and /metrics` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { address: string; port: number };
  const shown = address.address.includes(":") ? `[${address.address}]` : address.address;
  return { url: `http://${shown}:${address.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
