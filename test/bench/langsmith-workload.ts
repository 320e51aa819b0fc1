import type { WireEvent } from "../support/workload";

/**
 * `pnpm bench --langsmith`: the bench's workload as the LangSmith SDK would send it. Each trace
 * becomes a root run and two children posted through `POST /runs/multipart` (the SDK's encoding:
 * a `post.<id>` part per run, its inputs and outputs as `post.<id>.inputs|outputs` parts), each
 * trigger becomes feedback (a `feedback.<id>` part; about 30 % of traces get one). The ledger
 * events the mapping must produce (L1, L2) are returned too: the bill is checked against them.
 */
export interface LangSmithWorkload {
  /** Per client: requests in order, each for one workspace (a request carries one key). */
  streams: { org: string; workspace: string; runs: number; events: number; parts: [string, string][] }[][];
  /** The ledger events L1 and L2 make of it, for the reference ledger. */
  expected: WireEvent[];
  runs: number;
  /** Projects whose default retention is extended, per (org, workspace). */
  extendedProject: string;
}

const EXTENDED_PROJECT = "proj-extended";
const RUNS_PER_REQUEST = 300;

export function langsmithWorkload(events: readonly WireEvent[], clients: number): LangSmithWorkload {
  const expected: WireEvent[] = [];
  const byWorkspace = new Map<string, { org: string; workspace: string; items: { runs: number; events: number; parts: [string, string][] }[] }>();
  let runs = 0;
  for (const e of events) {
    const wsKey = `${e.org_id}/${e.workspace_id}`;
    if (!byWorkspace.has(wsKey)) byWorkspace.set(wsKey, { org: e.org_id!, workspace: e.workspace_id!, items: [] });
    const items = byWorkspace.get(wsKey)!.items;
    const trace = e.trace_id!;
    if (e.type === "trace-created") {
      const start = Date.parse(e.occurred_at!);
      const project = e.retention === "extended" ? EXTENDED_PROJECT : e.project_id!;
      const parts: [string, string][] = [];
      const run = (id: string, parent: string | undefined, name: string, offsetMs: number) => {
        parts.push([`post.${id}`, JSON.stringify({ id, trace_id: trace, ...(parent ? { parent_run_id: parent } : {}), name, run_type: parent ? "llm" : "chain", start_time: new Date(start + offsetMs).toISOString(), end_time: new Date(start + offsetMs + 900).toISOString(), session_name: project, extra: { metadata: { bench: true } } })]);
        parts.push([`post.${id}.inputs`, JSON.stringify({ question: `what is ${id}?` })]);
        parts.push([`post.${id}.outputs`, JSON.stringify({ answer: `${id} is a run of the bench` })]);
      };
      run(trace, undefined, "agent", 0);
      run(`${trace}-c1`, trace, "retrieve", 10);
      run(`${trace}-c2`, trace, "generate", 20);
      items.push({ runs: 3, events: 1, parts });
      runs += 3;
      expected.push({ id: `run:${trace}`, type: "trace-created", occurred_at: new Date(start).toISOString(), org_id: e.org_id!, workspace_id: e.workspace_id!, trace_id: trace, project_id: project, retention: e.retention! });
    } else {
      const feedbackId = `fb-${e.id}`;
      items.push({ runs: 0, events: 1, parts: [[`feedback.${feedbackId}`, JSON.stringify({ id: feedbackId, run_id: `${trace}-c2`, trace_id: trace, key: "correctness", score: 1, created_at: e.occurred_at })]] });
      expected.push({ id: `feedback:${feedbackId}`, type: "feedback-added", occurred_at: e.occurred_at!, org_id: e.org_id!, workspace_id: e.workspace_id!, trace_id: trace, run_id: `${trace}-c2`, feedback_id: feedbackId });
    }
  }
  // Workspaces are dealt to clients; a client sends its workspaces' requests interleaved, each
  // workspace's in log order (a trace's feedback after its runs).
  const streams: LangSmithWorkload["streams"] = Array.from({ length: clients }, () => []);
  [...byWorkspace.values()].forEach((ws, i) => {
    const requests: LangSmithWorkload["streams"][number] = [];
    let current: LangSmithWorkload["streams"][number][number] | null = null;
    for (const item of ws.items) {
      if (current === null || current.runs + item.runs > RUNS_PER_REQUEST) {
        current = { org: ws.org, workspace: ws.workspace, runs: 0, events: 0, parts: [] };
        requests.push(current);
      }
      current.runs += item.runs;
      current.events += item.events;
      current.parts.push(...item.parts);
    }
    const stream = streams[i % clients]!;
    // Interleave with the workspaces the client already has.
    const merged: typeof stream = [];
    for (let k = 0; k < Math.max(stream.length, requests.length); k++) {
      if (k < stream.length) merged.push(stream[k]!);
      if (k < requests.length) merged.push(requests[k]!);
    }
    streams[i % clients] = merged;
  });
  return { streams, expected, runs, extendedProject: EXTENDED_PROJECT };
}
