import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  BASE_RETENTION_MS,
  decideUpgrade,
  periodKeyOf,
  referenceLedger,
  upgradeIdFor,
  type ReferenceEvent,
  type TraceFact,
  type TraceState,
} from "../src";

const DAY = 86_400_000;
const START = Date.parse("2024-01-25T00:00:00Z");

/** One trace's events, in its log order: maybe a creation, triggers around its life, duplicates. */
const traceLog = fc
  .record({
    orgId: fc.constantFrom("acme", "globex"),
    traceId: fc.constantFrom("t-1", "t-2", "t-3", "t-4", "t-5", "t-6"),
    workspaceId: fc.constantFrom("prod", "dev"),
    created: fc.option(
      fc.record({
        atMs: fc.integer({ min: START, max: START + 70 * DAY }),
        retention: fc.constantFrom<"base" | "extended">("base", "base", "extended"),
      }),
      { freq: 4 },
    ),
    triggers: fc.array(
      fc.record({
        type: fc.constantFrom<"feedback-added" | "queue-added" | "rule-matched">("feedback-added", "queue-added", "rule-matched"),
        // Offsets around the edges that matter: before creation, expiry ± 1 ms, far later.
        offsetMs: fc.oneof(
          fc.integer({ min: -3 * DAY, max: 20 * DAY }),
          fc.constantFrom(-1, 0, BASE_RETENTION_MS - 1, BASE_RETENTION_MS, BASE_RETENTION_MS + 1, 400 * DAY),
        ),
        workspaceId: fc.constantFrom("prod", "dev"),
      }),
      { maxLength: 4 },
    ),
    creationPosition: fc.nat({ max: 4 }),
    duplicates: fc.array(fc.nat({ max: 10 }), { maxLength: 3 }),
  })
  .map((t) => {
    const base = t.created?.atMs ?? START + 30 * DAY;
    const events: ReferenceEvent[] = t.triggers.map((g, i) => ({
      id: `${t.traceId}-g${i}`,
      type: g.type,
      occurredAtMs: base + g.offsetMs,
      orgId: t.orgId,
      workspaceId: t.created ? t.workspaceId : g.workspaceId,
      traceId: t.traceId,
    }));
    if (t.created) {
      events.splice(Math.min(t.creationPosition, events.length), 0, {
        id: `${t.traceId}-c`,
        type: "trace-created",
        occurredAtMs: t.created.atMs,
        orgId: t.orgId,
        workspaceId: t.workspaceId,
        traceId: t.traceId,
        retention: t.created.retention,
      });
    }
    // Re-deliveries (D1) anywhere later in the trace's log.
    for (const d of t.duplicates) if (events.length) events.splice(d % (events.length + 1), 0, { ...events[d % events.length]! });
    return events;
  });

/**
 * Interleaves traces' logs, keeping each trace's own order (U3). One log per (org, trace), as
 * B2 promises; two orgs may share a trace id and event ids.
 */
const ledgerLog = fc
  .array(traceLog, { maxLength: 8 })
  .map((logs) => {
    const seen = new Set<string>();
    return logs.filter((l) => {
      const k = l[0] ? `${l[0].orgId}/${l[0].traceId}` : "";
      if (!k || seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  })
  .chain((logs) =>
  fc.array(fc.nat({ max: Math.max(0, logs.length - 1) }), { minLength: 200, maxLength: 200 }).map((picks) => {
    const queues = logs.map((l) => [...l]);
    const out: ReferenceEvent[] = [];
    for (const p of picks) {
      const q = queues[p % Math.max(1, queues.length)];
      if (q?.length) out.push(q.shift()!);
    }
    for (const q of queues) out.push(...q);
    return out;
  }),
);

/** A source per trigger type and event (two rules, one queue, feedback with or without a key), so some triggers share a source. */
const sourceOf = (e: ReferenceEvent) =>
  e.type === "trace-created" ? "creation" : e.type === "rule-matched" ? `rule:r-${e.id.length % 2}` : e.type === "queue-added" ? "queue:q-1" : e.id.endsWith("1") ? "feedback" : "feedback:score";

const factOf = (e: ReferenceEvent): TraceFact =>
  e.type === "trace-created"
    ? { kind: "created", eventId: e.id, occurredAtMs: e.occurredAtMs, workspaceId: e.workspaceId, retention: e.retention!, projectId: "p-1", source: sourceOf(e) }
    : { kind: "trigger", type: e.type, eventId: e.id, occurredAtMs: e.occurredAtMs, workspaceId: e.workspaceId, source: sourceOf(e) };

/** What the pipeline computes: the decision folded per trace, counted as the views count. */
function pipelineModel(log: ReferenceEvent[]) {
  const states = new Map<string, TraceState>();
  const base = new Map<string, Set<string>>();
  const upgrades = new Map<string, { id: string; row: string }>();
  for (const e of log) {
    const key = `${e.orgId}/${e.traceId}`;
    if (e.type === "trace-created") {
      const row = JSON.stringify([e.orgId, e.workspaceId, periodKeyOf(e.occurredAtMs)]);
      base.set(row, (base.get(row) ?? new Set()).add(key));
    }
    const fact = factOf(e);
    const d = decideUpgrade(states.get(key) ?? null, fact);
    states.set(key, d.state);
    if (d.upgrade) {
      const id = upgradeIdFor(e.orgId, e.traceId);
      expect(upgrades.has(id)).toBe(false); // U1: at most once, ever
      upgrades.set(id, { id, row: JSON.stringify([e.orgId, d.upgrade.workspaceId, periodKeyOf(d.upgrade.occurredAtMs)]) });
    }
  }
  const rows = new Map<string, { baseTraces: number; extendedUpgrades: number }>();
  for (const [row, traces] of base) rows.set(row, { baseTraces: traces.size, extendedUpgrades: 0 });
  for (const { row } of upgrades.values()) {
    const r = rows.get(row) ?? { baseTraces: 0, extendedUpgrades: 0 };
    r.extendedUpgrades += 1;
    rows.set(row, r);
  }
  return [...rows.entries()]
    .map(([k, v]) => {
      const [orgId, workspaceId, period] = JSON.parse(k) as [string, string, string];
      return { orgId, workspaceId, period, ...v };
    })
    .sort((a, b) => (JSON.stringify([a.orgId, a.workspaceId, a.period]) < JSON.stringify([b.orgId, b.workspaceId, b.period]) ? -1 : 1));
}

describe("the upgrade decision (U1–U5) against the reference ledger", () => {
  test("folding decisions over any log gives the reference's metrics", () => {
    fc.assert(
      fc.property(ledgerLog, (log) => {
        expect(pipelineModel(log)).toEqual(referenceLedger(log));
      }),
      { numRuns: 1_000 },
    );
  });

  test("decisions are deterministic and re-applying a fact changes nothing", () => {
    fc.assert(
      fc.property(traceLog, (events) => {
        let state: TraceState | null = null;
        for (const e of events) {
          const fact = factOf(e);
          const first = decideUpgrade(state, fact);
          expect(decideUpgrade(state, fact)).toEqual(first);
          const again = decideUpgrade(first.state, fact);
          expect(again.upgrade).toBeNull();
          expect(again.state).toEqual(first.state);
          state = first.state;
        }
      }),
    );
  });

  test("alternatives (§4.1): reported as a naive reading of each trace's log says", () => {
    fc.assert(
      fc.property(traceLog, (events) => {
        let state: TraceState | null = null;
        const reported: string[] = [];
        for (const e of events) {
          const d = decideUpgrade(state, factOf(e));
          if (d.alternative) {
            expect(d.alternative.upgradedAtMs).toBe(d.state.upgradedAtMs);
            reported.push(`${e.id}:${d.alternative.source}`);
          }
          state = d.state;
        }
        // Naively: the first upgrading event's source is the cause; a later trigger of another
        // source is an alternative while the creation, as known when it arrives, is under 14 days old.
        let cause: string | null = null;
        let createdAt: number | null = null;
        const expected: string[] = [];
        for (const e of events) {
          if (e.type === "trace-created") {
            createdAt ??= e.occurredAtMs;
            if (cause === null && e.retention === "extended") cause = "creation";
            continue;
          }
          if (cause === null) {
            if (createdAt !== null && e.occurredAtMs >= createdAt + BASE_RETENTION_MS) continue; // U4
            cause = sourceOf(e);
          } else if (expected.length === 0 && cause !== "creation" && sourceOf(e) !== cause && (createdAt === null || e.occurredAtMs < createdAt + BASE_RETENTION_MS)) {
            expected.push(`${e.id}:${sourceOf(e)}`);
          }
        }
        expect(reported).toEqual(expected);
        expect(state?.cause ?? "").toBe(cause ?? "");
      }),
      { numRuns: 2_000 },
    );
  });

  test("examples: expiry is exactly 14 × 24 h, clamping, unknown traces", () => {
    const created = Date.parse("2024-06-20T00:00:00Z");
    const base = decideUpgrade(null, { kind: "created", eventId: "c", occurredAtMs: created, workspaceId: "w", retention: "base", projectId: "p", source: "creation" }).state;
    const trig = (at: number) => decideUpgrade(base, { kind: "trigger", type: "feedback-added", eventId: "f", occurredAtMs: at, workspaceId: "w", source: "feedback" });
    expect(trig(created + BASE_RETENTION_MS).rejection).toMatchObject({ reason: "trace_expired", expiresAtMs: created + BASE_RETENTION_MS });
    expect(trig(created + BASE_RETENTION_MS - 1).upgrade?.occurredAtMs).toBe(created + BASE_RETENTION_MS - 1);
    expect(trig(created - 5_000).upgrade?.occurredAtMs).toBe(created);
    const unknown = decideUpgrade(null, { kind: "trigger", type: "rule-matched", eventId: "r", occurredAtMs: 42, workspaceId: "w", source: "rule:r" });
    expect(unknown.upgrade?.occurredAtMs).toBe(42);
    expect(upgradeIdFor("a", "b")).toBe(upgradeIdFor("a", "b"));
    expect(upgradeIdFor("a", "b/c")).not.toBe(upgradeIdFor("a/b", "c"));
  });
});
