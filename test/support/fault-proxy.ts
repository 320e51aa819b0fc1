import { createServer, type IncomingMessage, type Server } from "node:http";

export interface ProxiedRequest {
  method: string;
  url: string;
  encoding?: string;
  contentType?: string;
  status: number;
}

/**
 * A loopback proxy in front of the ledger for client tests: records every request, answers
 * 503 where `fail` says so (a fault the client must retry), and may rewrite `/info`.
 */
export async function startFaultProxy(
  target: string,
  options: { fail?: (req: IncomingMessage, seen: ProxiedRequest[]) => boolean; info?: (info: Record<string, any>) => Record<string, any> } = {},
): Promise<{ url: string; seen: ProxiedRequest[]; close: () => Promise<void> }> {
  const seen: ProxiedRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const record: ProxiedRequest = { method: req.method!, url: req.url!, encoding: req.headers["content-encoding"], contentType: req.headers["content-type"], status: 0 };
    seen.push(record);
    if (options.fail?.(req, seen)) {
      record.status = 503;
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "injected fault" }));
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !["host", "content-length", "connection", "transfer-encoding"].includes(k)) as [string, string][]);
    const answer = await fetch(`${target}${req.url}`, { method: req.method, headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
    let body = Buffer.from(await answer.arrayBuffer());
    if (options.info && /\/info$/.test(req.url!.split("?")[0]!) && answer.ok) body = Buffer.from(JSON.stringify(options.info(JSON.parse(body.toString()))));
    record.status = answer.status;
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
