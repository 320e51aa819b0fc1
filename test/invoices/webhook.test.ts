import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startMockCluster, type MockCluster } from "@ledger/kafka";
import { nextAttemptAt } from "@ledger/invoicer";
import { uniqueName } from "../support/engines";
import { ev } from "../support/pipeline";
import { runLedger } from "../support/cli";
import { waitFor } from "../support/wait";
import { freshServeEnv, startServe, type ServeProcess, SERVE_PLATFORM_KEY } from "../support/serve-process";

/**
 * IE3 against a receiver this test runs and `ledger serve` as a process: the receiver refuses,
 * then hangs past the timeout; serve is SIGKILLed between attempts and started again on the
 * same data; the receiver recovers. The invoice arrives at least once, every copy the same body
 * with a valid signature; every attempt is recorded; a resend delivers the same body again.
 */
const SECRET = "whsec_test_0123456789abcdef";

interface Received {
  body: string;
  signature: string;
  invoiceId: string;
  attempt: string;
  answered: "refused" | "hung" | "ok";
}

/** A receiver whose next answers are scripted: "refuse" (500), "hang" (never answers), else 200. */
class Receiver {
  readonly received: Received[] = [];
  script: ("refuse" | "hang")[] = [];
  private readonly hung: ServerResponse[] = [];
  private server!: Server;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        const next = this.script.shift();
        const answered = next === "refuse" ? "refused" : next === "hang" ? "hung" : "ok";
        this.received.push({ body, signature: String(req.headers["ledger-signature"]), invoiceId: String(req.headers["ledger-invoice-id"]), attempt: String(req.headers["ledger-delivery-attempt"]), answered });
        if (answered === "refused") res.writeHead(500).end("receiver is down");
        else if (answered === "hung") this.hung.push(res);
        else res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/invoices`;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** The signature header verifies: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>. */
function verifies(r: Received): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.signature);
  if (!m) return false;
  const expected = createHmac("sha256", SECRET).update(`${m[1]}.${r.body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, "hex"));
}

describe("the invoice webhook", () => {
  let broker: MockCluster;
  const receiver = new Receiver();
  const serves: ServeProcess[] = [];
  beforeAll(async () => {
    broker = await startMockCluster();
    await receiver.start();
  });
  afterAll(async () => {
    for (const s of serves) s.child.kill("SIGKILL");
    await Promise.all(serves.map((s) => s.exited));
    await receiver.stop();
    await broker?.stop();
  });

  test("refused, timed out, killed between attempts, recovered: delivered at least once, never with a different body", async () => {
    const prefix = uniqueName("webhook");
    const env = {
      ...freshServeEnv(prefix, broker.brokers),
      LEDGER_CLOSE_GRACE: "off",
      LEDGER_WEBHOOK_URL: receiver.url,
      LEDGER_WEBHOOK_SECRET: SECRET,
      LEDGER_WEBHOOK_TIMEOUT: "1s",
      LEDGER_WEBHOOK_BACKOFF: "300ms",
      LEDGER_WEBHOOK_MAX_BACKOFF: "1s",
    };
    const cli = (args: string[]) => runLedger([...args, "--url", serves.at(-1)!.url], { env: { LEDGER_PLATFORM_KEY: SERVE_PLATFORM_KEY } });
    const headers = { "content-type": "application/json", "x-api-key": SERVE_PLATFORM_KEY };
    let serve = await startServe(env);
    serves.push(serve);
    expect((await fetch(`${serve.url}/v1/admin/orgs/acme`, { method: "PUT", headers, body: JSON.stringify({ plan: "plus", payment_method: true }) })).status).toBeLessThan(300);
    expect((await fetch(`${serve.url}/v1/events`, { method: "POST", headers, body: JSON.stringify([ev.created("acme", "t-1", "2024-06-03T00:00:00Z")]) })).status).toBe(202);

    // Two refusals, an answer that never comes, then refusals until the receiver recovers.
    receiver.script = ["refuse", "refuse", "hang", ...Array<"refuse">(100).fill("refuse")];
    const close = await fetch(`${serve.url}/v1/admin/periods/2024-06/close`, { method: "POST", headers, body: JSON.stringify({ wait: true }) });
    expect(close.status).toBe(200);
    const delivery = async () => {
      const res = await fetch(`${serves.at(-1)!.url}/v1/admin/webhooks?invoice_id=${encodeURIComponent("monthly/2024-06/acme")}`, { headers });
      const body = (await res.json()) as { deliveries?: Record<string, any>[] };
      if (!body.deliveries) throw new Error(`GET /v1/admin/webhooks answered ${res.status}: ${JSON.stringify(body)}\n${serves.at(-1)!.output().slice(-3000)}`);
      return body.deliveries[0] ?? null;
    };
    await waitFor("three failed attempts recorded (refused, refused, timed out)", async () => ((await delivery())?.attempts ?? 0) >= 3, 60_000, 50);
    const failing = (await delivery())!;
    expect(failing).toMatchObject({ invoice_id: "monthly/2024-06/acme", org_id: "acme", round: 1, status: "retrying" });
    expect(failing.next_attempt_at).not.toBeNull();

    // Killed between attempts; the receiver recovers while the ledger is down.
    serve.child.kill("SIGKILL");
    await serve.exited;
    receiver.script = [];
    serve = await startServe(env);
    serves.push(serve);
    await waitFor("a delivery the receiver accepted", () => receiver.received.some((r) => r.answered === "ok"), 60_000, 100);
    await waitFor("the delivery recorded", async () => (await delivery())?.status === "delivered", 30_000, 200);

    const copies = receiver.received.filter((r) => r.invoiceId === "monthly/2024-06/acme");
    expect(copies.map((r) => r.answered).slice(0, 3)).toEqual(["refused", "refused", "hung"]);
    expect(copies.length).toBeGreaterThanOrEqual(4);
    expect(new Set(copies.map((r) => r.body)).size).toBe(1);
    for (const r of copies) expect(verifies(r)).toBe(true);
    expect(verifies({ ...copies[0]!, body: copies[0]!.body.replace("acme", "acmf") })).toBe(false);
    const event = JSON.parse(copies[0]!.body) as Record<string, unknown>;
    expect(event).toMatchObject({ type: "invoice-issued", invoice_id: "monthly/2024-06/acme", kind: "monthly", org_id: "acme", period: "2024-06", currency: "USD", amount_due_usd: "0.00" });
    // Every recorded attempt reached the receiver; one in flight at the kill may be unrecorded.
    const delivered = (await delivery())!;
    expect(delivered.attempts).toBeLessThanOrEqual(copies.length);
    expect(delivered.attempts).toBeGreaterThanOrEqual(copies.length - 1);
    expect(delivered).toMatchObject({ status: "delivered", last_outcome: "delivered", last_status: 200, next_attempt_at: null });

    // A resend: a second round, the same body.
    const resent = await cli(["webhooks", "resend", "monthly/2024-06/acme"]);
    expect(resent.stderr).toBe("");
    expect(resent.stdout).toContain("round 2 queued");
    await waitFor("round 2 delivered", async () => {
      const d = await delivery();
      return d?.round === 2 && d.status === "delivered";
    }, 30_000, 200);
    const all = receiver.received.filter((r) => r.invoiceId === "monthly/2024-06/acme");
    expect(new Set(all.map((r) => r.body)).size).toBe(1);
    const listed = await cli(["webhooks", "list"]);
    expect(listed.stdout).toMatch(/^monthly\/2024-06\/acme {2}round 2 {2}delivered {2}1 attempt\(s\)/m);

    // Refusals name what was wrong.
    const unknown = await cli(["webhooks", "resend", "monthly/2024-05/acme"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("never queued for the webhook");
    const bad = await fetch(`${serve.url}/v1/admin/webhooks/resend`, { method: "POST", headers, body: JSON.stringify({ invoice_id: "june" }) });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("invoice_id");
  }, 300_000);
});

describe("the webhook's retry schedule", () => {
  test("exponential from the first wait, capped, and at least 24 hours long with the defaults", () => {
    const defaults = { backoffMs: 30_000, maxBackoffMs: 3_600_000, retryForMs: 3 * 86_400_000 };
    const waits: number[] = [];
    let at = 0;
    for (let failed = 1; ; failed++) {
      const next = nextAttemptAt(defaults, 0, failed, at);
      if (next === null) break;
      waits.push(next - at);
      at = next;
    }
    expect(waits.slice(0, 4)).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(Math.max(...waits)).toBe(3_600_000);
    expect(at).toBeGreaterThanOrEqual(86_400_000);
    expect(at).toBeLessThanOrEqual(3 * 86_400_000);
  });
});
