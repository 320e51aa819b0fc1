/**
 * A deterministic synthetic event log (seeded PRNG): traces spread over the days around a month
 * boundary, a share of them upgraded by a trigger (some too late: trace_expired), a few
 * extended from the start, and some events delivered twice. Shared by the crash test and the
 * benchmark; the expected bill comes from the reference ledger, never from this generator.
 */
export interface WorkloadOptions {
  traces: number;
  orgs: number;
  workspacesPerOrg: number;
  /** Share of traces that get at least one trigger. */
  triggered: number;
  /** A triggered trace gets 1 to this many triggers (feedback on several runs, rules…). */
  maxTriggers: number;
  /** Share of events delivered a second time. */
  duplicated: number;
  seed: number;
  /** The month boundary the log spans (creation times fall in the 20 days around it). */
  boundary: string;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  traces: 20_000,
  orgs: 10,
  workspacesPerOrg: 3,
  triggered: 0.3,
  maxTriggers: 2,
  duplicated: 0.02,
  seed: 42,
  boundary: "2024-07-01T00:00:00Z",
};

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const TRIGGERS = ["feedback-added", "queue-added", "rule-matched"] as const;

export type WireEvent = Record<string, string>;

export function generateWorkload(options: Partial<WorkloadOptions> = {}): WireEvent[] {
  const o = { ...DEFAULT_WORKLOAD, ...options };
  const random = mulberry32(o.seed);
  const boundary = Date.parse(o.boundary);
  const timed: { at: number; seq: number; event: WireEvent }[] = [];
  let seq = 0;
  const push = (at: number, event: WireEvent) => timed.push({ at, seq: seq++, event });
  for (let t = 0; t < o.traces; t++) {
    const org = `org-${t % o.orgs}`;
    const ws = `ws-${Math.floor(random() * o.workspacesPerOrg)}`;
    const traceId = `trace-${t}`;
    const created = boundary - 10 * DAY + Math.floor(random() * 20 * DAY);
    const extended = random() < 0.03;
    push(created, {
      id: `ev-${t}-c`,
      type: "trace-created",
      occurred_at: new Date(created).toISOString(),
      org_id: org,
      workspace_id: ws,
      trace_id: traceId,
      project_id: `proj-${t % 7}`,
      retention: extended ? "extended" : "base",
    });
    if (random() < o.triggered) {
      const count = 1 + Math.floor(random() * o.maxTriggers);
      for (let k = 0; k < count; k++) {
        const type = TRIGGERS[Math.floor(random() * 3)]!;
        // Mostly within the 14-day life; some after it (trace_expired).
        const at = created + Math.floor(random() * 16 * DAY);
        const extra: WireEvent =
          type === "feedback-added" ? { feedback_id: `fb-${t}-${k}` } : type === "queue-added" ? { queue_id: `q-${t % 5}` } : { rule_id: `rule-${t % 3}` };
        push(at, {
          id: `ev-${t}-${k}`,
          type,
          occurred_at: new Date(at).toISOString(),
          org_id: org,
          workspace_id: ws,
          trace_id: traceId,
          run_id: `run-${t}-${k}`,
          ...extra,
        });
      }
    }
  }
  // Log order is time order; a duplicate is delivered again a little later.
  timed.sort((a, b) => a.at - b.at || a.seq - b.seq);
  const out: WireEvent[] = [];
  for (const { event } of timed) {
    out.push(event);
    if (random() < o.duplicated) out.push(event);
  }
  return out;
}
