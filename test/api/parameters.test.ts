import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ledgerApi } from "../support/ledger-api";
import { startReplicas, type Replicas } from "../support/replicas";
import { waitFor } from "../support/wait";

// Every route's parameters walked with malformed values, against `ledger serve` as a process
// (its API thread) and against a `ledger ingest` replica beside it: each answers a 4xx whose
// sentence names the parameter, and both answer alike. None answers 5xx in either mode.
let ledger: Replicas;
let key: string;
beforeAll(async () => {
  ledger = await startReplicas(2, "params");
  const api = ledgerApi(ledger.urls[0]!, ledger.platformKey);
  await api.org("acme", { plan: "plus", payment_method: true });
  key = (await api.key("acme", "prod")).key;
  // The replica learns the key with its next account reload.
  await waitFor("the replica to know the key", async () => (await fetch(`${ledger.urls[1]}/v1/usage`, { headers: { "x-api-key": key } })).status === 200);
}, 180_000);
afterAll(async () => {
  await ledger?.stop();
});

/** Values no identifier, period, day, count or choice accepts. */
const notAnId = fc.oneof(fc.constantFrom("", "a b", "x".repeat(129), "%00", "é", "a/b", "'; DROP TABLE x; --"), fc.string({ minLength: 1, maxLength: 8 }).map((s) => `${s}!`));
const notAPeriod = fc.oneof(fc.constantFrom("2024-13", "2024-00", "24-06", "soon", "2024-6", ""), fc.string({ maxLength: 6 }).map((s) => `${s}x`));
const notADay = fc.constantFrom("2024-02-30", "2024-13-01", "yesterday", "2024-06", "");
const notADays = fc.oneof(fc.constantFrom("31", "0", "-30", "1e9", "thirty", ""), fc.integer({ min: 91, max: 10_000 }).map(String));
const notAChoice = fc.string({ maxLength: 8 }).map((s) => `${s}?`);
const notALine = fc.constantFrom("0", "-1", "01", "1.5", "one", "9999999");

type Case = { route: string; method: string; path: (v: string) => string; value: fc.Arbitrary<string>; names: RegExp; key: "org" | "platform" };
const e = encodeURIComponent;
const cases: Case[] = [
  { route: "GET /v1/usage ?from", method: "GET", path: (v) => `/v1/usage?from=${e(v)}`, value: notAPeriod, names: /\bfrom\b/, key: "org" },
  { route: "GET /v1/usage ?to", method: "GET", path: (v) => `/v1/usage?to=${e(v)}`, value: notAPeriod, names: /\bto\b/, key: "org" },
  { route: "GET /v1/usage ?by", method: "GET", path: (v) => `/v1/usage?by=${e(v)}`, value: notAChoice, names: /\bby\b/, key: "org" },
  { route: "GET /v1/usage ?unknown", method: "GET", path: (v) => `/v1/usage?${e(`p${v}`)}=1`, value: fc.constantFrom("lanet", "x", "_"), names: /is not a parameter of \/v1\/usage/, key: "org" },
  { route: "GET /v1/usage/daily ?days", method: "GET", path: (v) => `/v1/usage/daily?days=${e(v)}`, value: notADays, names: /\bdays\b/, key: "org" },
  { route: "GET /v1/usage/daily ?through", method: "GET", path: (v) => `/v1/usage/daily?through=${e(v)}`, value: notADay, names: /\bthrough\b/, key: "org" },
  { route: "GET /v1/usage/daily ?workspace", method: "GET", path: (v) => `/v1/usage/daily?workspace=${e(v)}`, value: notAnId, names: /\bworkspace\b/, key: "org" },
  { route: "GET /v1/limits ?workspace", method: "GET", path: (v) => `/v1/limits?workspace=${e(v)}`, value: notAnId, names: /\bworkspace\b/, key: "org" },
  { route: "GET /v1/invoices/{org}/{period} period", method: "GET", path: (v) => `/v1/invoices/acme/${e(v)}`, value: notAPeriod.filter((v) => v !== ""), names: /\bperiod\b/, key: "org" },
  { route: "GET /v1/invoices/{org}/{period} ?format", method: "GET", path: (v) => `/v1/invoices/acme/2024-06?format=${e(v)}`, value: notAChoice, names: /\bformat\b/, key: "org" },
  { route: "GET /v1/invoices/{org} org", method: "GET", path: (v) => `/v1/invoices/${e(v)}`, value: notAnId.filter((v) => v !== ""), names: /\borganization\b/, key: "platform" },
  { route: "GET …/lines/{n}/sources n", method: "GET", path: (v) => `/v1/invoices/acme/2024-06/lines/${e(v)}/sources`, value: notALine, names: /\bline\b/, key: "org" },
  { route: "GET /v1/admin/keys ?org", method: "GET", path: (v) => `/v1/admin/keys?org=${e(v)}`, value: notAnId, names: /\borg\b/, key: "platform" },
  { route: "GET /v1/admin/limits ?org", method: "GET", path: (v) => `/v1/admin/limits?org=${e(v)}`, value: notAnId, names: /\borg\b/, key: "platform" },
  { route: "GET /v1/admin/export/{period} ?dataset", method: "GET", path: (v) => `/v1/admin/export/2024-06?dataset=${e(v)}`, value: notAChoice, names: /\bdataset\b/, key: "platform" },
  { route: "GET /v1/admin/export/{period} period", method: "GET", path: (v) => `/v1/admin/export/${e(v)}`, value: notAPeriod.filter((v) => v !== ""), names: /\bperiod\b/, key: "platform" },
  { route: "POST /v1/admin/periods/{period}/close period", method: "POST", path: (v) => `/v1/admin/periods/${e(v)}/close`, value: notAPeriod.filter((v) => v !== ""), names: /\bperiod\b/, key: "platform" },
  { route: "PUT /v1/admin/orgs/{org} org", method: "PUT", path: (v) => `/v1/admin/orgs/${e(v)}`, value: notAnId.filter((v) => v !== ""), names: /\borganization\b/, key: "platform" },
  { route: "GET /runs/{id} id", method: "GET", path: (v) => `/runs/${e(v)}`, value: notAnId.filter((v) => v !== ""), names: /\brun_id\b/, key: "org" },
  { route: "POST /annotation-queues/{queue}/runs queue", method: "POST", path: (v) => `/annotation-queues/${e(v)}/runs`, value: notAnId.filter((v) => v !== ""), names: /\bqueue_id\b/, key: "org" },
];

const ask = async (url: string, c: Case, value: string) => {
  const res = await fetch(`${url}${c.path(value)}`, {
    method: c.method,
    headers: { "x-api-key": c.key === "platform" ? ledger.platformKey : key, ...(c.method === "GET" ? {} : { "content-type": "application/json" }) },
    ...(c.method === "GET" ? {} : { body: c.method === "PUT" ? '{"plan":"plus"}' : c.path(value).includes("annotation") ? '["r1"]' : "{}" }),
  });
  const text = await res.text();
  let error: unknown = text;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    // not JSON: the assertion below shows the text
  }
  return { status: res.status, error };
};

test("a malformed value of any route's parameter is a 4xx naming it, the same from serve's thread and from a replica", async () => {
  await fc.assert(
    // Drawn as (route, value), so that a counterexample reads as one.
    fc.asyncProperty(fc.constantFrom(...cases).chain((c) => c.value.map((value) => [c.route, value] as const)), async ([route, value]) => {
      const c = cases.find((k) => k.route === route)!;
      const [fromServe, fromReplica] = [await ask(ledger.urls[0]!, c, value), await ask(ledger.urls[1]!, c, value)];
      expect({ route: c.route, value, status: fromServe.status, error: fromServe.error }).toEqual({ route: c.route, value, status: expect.any(Number), error: expect.stringMatching(c.names) });
      expect(fromServe.status >= 400 && fromServe.status < 500, `${c.route} ${JSON.stringify(value)}: ${fromServe.status}`).toBe(true);
      expect(fromReplica).toEqual(fromServe);
    }),
    { numRuns: 200 },
  );
});
