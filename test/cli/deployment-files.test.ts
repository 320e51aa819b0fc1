import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { apiConfigSchema } from "@ledger/api";
import { engineConfigSchema, envKeysOf } from "@ledger/config";
import { invoicerConfigSchema } from "@ledger/invoicer";
import { sealerConfigSchema } from "@ledger/sealer";
import { sinkConfigSchema } from "@ledger/sink";
import { upgraderConfigSchema } from "@ledger/upgrader";
import { parseRoles, ROLES, runConfigSchema } from "@ledger/cli";
import { ROOT } from "../support/cli";

// infra/compose.yaml and infra/k8s/ cannot run here (no container runtime): what can be checked
// is that they start roles that exist with settings the roles read.

const KNOWN = new Set([engineConfigSchema, apiConfigSchema, upgraderConfigSchema, sinkConfigSchema, invoicerConfigSchema, sealerConfigSchema, runConfigSchema].flatMap(envKeysOf));

/** `["run", "api", "--port", "8080"]` → the roles, checked as `ledger run` checks them; `["migrate"]` → none. */
function rolesOf(args: string[]): string[] {
  if (args[0] === "migrate") return [];
  expect(args[0], `a ledger container runs \`run\` or \`migrate\`, not ${JSON.stringify(args)}`).toBe("run");
  const options = args.findIndex((a, i) => i > 0 && a.startsWith("--"));
  const names = args.slice(1, options === -1 ? undefined : options);
  return parseRoles(names);
}

test("compose: every role is a service with replicas, started with roles that exist, set only variables the roles read", () => {
  const compose = parse(readFileSync(join(ROOT, "infra/compose.yaml"), "utf8"), { merge: true }) as { services: Record<string, any> };
  const started: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.image !== "ledger:local") continue; // the engines' own images
    const roles = rolesOf(service.command);
    started.push(...roles);
    for (const key of Object.keys(service.environment ?? {})) expect(KNOWN.has(key), `${name} sets ${key}, which no role reads`).toBe(true);
    expect(service.environment?.LEDGER_KAFKA_BROKERS, `${name} names the compose Kafka`).toBe("kafka:19092");
    if (roles.length > 0) {
      expect(service.deploy?.replicas, `${name} runs in several instances`).toBeGreaterThanOrEqual(2);
      const probe = (service.healthcheck?.test as string[]).join(" ");
      expect(probe).toContain(roles.includes("api") ? "127.0.0.1:8080/readyz" : "127.0.0.1:9464/readyz");
    }
  }
  expect([...new Set(started)].sort()).toEqual([...ROLES].sort());
  expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(["kafka", "clickhouse", "redis", "migrate"]));
});

test("k8s: a Deployment per role with probes and resources, a Service for the API, only variables the roles read", () => {
  const dir = join(ROOT, "infra/k8s");
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => ({ file: f, doc: d.toJS() as any })));
  const configMaps = new Map(docs.filter((d) => d.doc.kind === "ConfigMap").map((d) => [d.doc.metadata.name as string, d.doc.data as Record<string, string>]));
  for (const [name, data] of configMaps) for (const key of Object.keys(data)) expect(KNOWN.has(key), `ConfigMap ${name} sets ${key}, which no role reads`).toBe(true);

  const started: string[] = [];
  for (const { file, doc } of docs.filter((d) => d.doc.kind === "Deployment" || d.doc.kind === "Job")) {
    for (const c of doc.spec.template.spec.containers as any[]) {
      const where = `${file}: ${c.name}`;
      for (const e of c.env ?? []) expect(KNOWN.has(e.name), `${where} sets ${e.name}, which no role reads`).toBe(true);
      for (const from of c.envFrom ?? []) expect(configMaps.has(from.configMapRef.name), `${where} reads ConfigMap ${from.configMapRef.name}, which is not defined`).toBe(true);
      expect(c.resources?.requests?.cpu && c.resources?.limits?.memory, `${where} has resources`).toBeTruthy();
      const roles = rolesOf(c.args);
      started.push(...roles);
      if (doc.kind !== "Deployment") continue;
      const port = (c.ports as { name: string; containerPort: number }[]).find((p) => p.name === c.readinessProbe.httpGet.port);
      expect(c.readinessProbe.httpGet.path).toBe("/readyz");
      expect(c.livenessProbe.httpGet.path).toBe("/healthz");
      expect(port?.containerPort, `${where} probes the ${roles.includes("api") ? "API" : "ops listener"}'s port`).toBe(roles.includes("api") ? 8080 : 9464);
      if (roles.includes("api")) expect(c.env.map((e: { name: string }) => e.name)).toContain("LEDGER_PLATFORM_KEY");
    }
  }
  expect([...new Set(started)].sort()).toEqual([...ROLES].sort());
  const service = docs.find((d) => d.doc.kind === "Service")?.doc;
  expect(service?.spec.selector).toEqual({ "app.kubernetes.io/part-of": "ledger", "app.kubernetes.io/component": "api" });
});

test("a variable no role reads is caught, as a misspelt one would be", () => {
  expect(KNOWN.has("LEDGER_KAFKA_BROKERS")).toBe(true);
  expect(KNOWN.has("LEDGER_OPS_PORT")).toBe(true);
  expect(KNOWN.has("LEDGER_KAFKA_BROKER")).toBe(false);
  expect(() => rolesOf(["run", "api", "billing"])).toThrow('unknown role "billing"');
});
