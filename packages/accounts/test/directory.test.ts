import { describe, expect, test } from "vitest";
import { ACCOUNT_EVENTS, validateBatchOf, type AccountEvent } from "@ledger/events";
import { AccountDirectory, generateApiKey, hashApiKey, looksLikeApiKey, planLimitsOf } from "../src";

const at = "2024-07-01T00:00:00Z";
const NOW = Date.parse("2026-12-01T00:00:00Z");
const events = (raw: object[]): AccountEvent[] => validateBatchOf(ACCOUNT_EVENTS, raw);

describe("AccountDirectory (§7)", () => {
  test("defaults: Developer without payment method, no workspace limits, base retention", () => {
    const d = new AccountDirectory();
    expect(d.org("x")).toMatchObject({ plan: "developer", paymentMethod: false, configured: false });
    expect(planLimitsOf(d.org("x"), NOW)).toEqual({ eventsPerHour: 50_000, bytesPerHour: 500_000_000, tracesPerMonth: 5_000 });
    expect(d.workspace("x", "w")).toMatchObject({ allTracesLimit: null, extendedTracesLimit: null, defaultRetention: "base" });
    expect(d.retentionFor("x", "w", "p")).toBe("base");
  });

  test("each event replaces its object's configuration whole; project overrides workspace retention", () => {
    const d = AccountDirectory.of(
      events([
        { id: "1", type: "org-configured", occurred_at: at, org_id: "a", plan: "enterprise", payment_method: true, events_per_hour: 7 },
        { id: "2", type: "org-configured", occurred_at: at, org_id: "a", plan: "enterprise", payment_method: true },
        { id: "3", type: "workspace-configured", occurred_at: at, org_id: "a", workspace_id: "w", all_traces_limit: 5, extended_traces_limit: null, default_retention: "extended" },
        { id: "4", type: "project-configured", occurred_at: at, org_id: "a", workspace_id: "w", project_id: "p", default_retention: "base" },
      ]),
    );
    expect(planLimitsOf(d.org("a"), NOW)).toEqual({ eventsPerHour: null, bytesPerHour: null, tracesPerMonth: null });
    expect(d.workspace("a", "w")).toMatchObject({ allTracesLimit: 5, extendedTracesLimit: null });
    expect(d.retentionFor("a", "w", "p")).toBe("base");
    expect(d.retentionFor("a", "w", "other")).toBe("extended");
  });

  test("plans: a payment method lifts the Developer trace cap; Plus and Startup share limits", () => {
    const base = { orgId: "a", configured: true, kind: "shared" as const };
    expect(planLimitsOf({ ...base, plan: "developer", paymentMethod: true }, NOW)).toEqual({ eventsPerHour: 250_000, bytesPerHour: 2_500_000_000, tracesPerMonth: null });
    expect(planLimitsOf({ ...base, plan: "plus", paymentMethod: false }, NOW)).toEqual({ eventsPerHour: 500_000, bytesPerHour: 5_000_000_000, tracesPerMonth: null });
    expect(planLimitsOf({ ...base, plan: "startup", paymentMethod: false }, NOW)).toEqual(planLimitsOf({ ...base, plan: "plus", paymentMethod: false }, NOW));
  });

  test("LG1: a legacy organization without a payment method has the Developer trace cap from 8 July 2024, whatever its plan", () => {
    const legacy = { orgId: "a", configured: true, kind: "shared" as const, plan: "plus" as const, paymentMethod: false, createdAtMs: Date.parse("2024-04-01T23:59:59.999Z") };
    expect(planLimitsOf(legacy, Date.parse("2024-07-08T00:00:00Z")).tracesPerMonth).toBe(5_000);
    expect(planLimitsOf(legacy, Date.parse("2024-07-07T23:59:59.999Z")).tracesPerMonth).toBeNull();
    expect(planLimitsOf({ ...legacy, paymentMethod: true }, NOW).tracesPerMonth).toBeNull();
    expect(planLimitsOf({ ...legacy, createdAtMs: Date.parse("2024-04-02T00:00:00Z") }, NOW).tracesPerMonth).toBeNull();
    expect(planLimitsOf({ ...legacy, plan: "enterprise" }, NOW)).toEqual({ eventsPerHour: null, bytesPerHour: null, tracesPerMonth: 5_000 });
  });

  test("keys: found by hash only, revoked by id, a revocation naming another org changes nothing", () => {
    const { key, keyHash } = generateApiKey("personal");
    const d = AccountDirectory.of(
      events([
        { id: "k1", type: "api-key-created", occurred_at: at, org_id: "a", workspace_id: "w", key_id: "key-1", key_hash: keyHash, kind: "personal", user_id: "u" },
        { id: "r0", type: "api-key-revoked", occurred_at: at, org_id: "intruder", key_id: "key-1" },
      ]),
    );
    expect(d.keyByHash(hashApiKey(key))).toMatchObject({ keyId: "key-1", orgId: "a", workspaceId: "w", revoked: false });
    d.apply(events([{ id: "r1", type: "api-key-revoked", occurred_at: at, org_id: "a", key_id: "key-1" }])[0]!);
    expect(d.keyByHash(keyHash)?.revoked).toBe(true);
    expect(d.keys("a").map((k) => k.keyId)).toEqual(["key-1"]);
  });

  test("key format: lsv2_pt_ / lsv2_sk_ and at least 32 random characters; hash is sha256 hex", () => {
    const p = generateApiKey("personal");
    const s = generateApiKey("service");
    expect(p.key).toMatch(/^lsv2_pt_[A-Za-z0-9_-]{43}$/);
    expect(s.key).toMatch(/^lsv2_sk_[A-Za-z0-9_-]{43}$/);
    expect(looksLikeApiKey(p.key)).toBe(true);
    expect(p.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(p.keyHash).not.toContain(p.key.slice(8));
    expect(generateApiKey("personal").key).not.toBe(p.key);
  });

  test("account events are validated like every event: field and reason", () => {
    expect(() => events([{ id: "1", type: "org-configured", occurred_at: at, org_id: "a", plan: "plus", payment_method: true, events_per_hour: 5 }])).toThrow(
      /events_per_hour is configured only on the enterprise plan/,
    );
    expect(() => events([{ id: "1", type: "api-key-created", occurred_at: at, org_id: "a", workspace_id: "w", key_id: "k", key_hash: "lsv2_pt_plain", kind: "service" }])).toThrow(
      /key_hash must be a sha256 hash/,
    );
    expect(() => events([{ id: "1", type: "workspace-configured", occurred_at: at, org_id: "a", workspace_id: "w", all_traces_limit: -1, extended_traces_limit: null, default_retention: "base" }])).toThrow(
      /all_traces_limit/,
    );
  });
});
