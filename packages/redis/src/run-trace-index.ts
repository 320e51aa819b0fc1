import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { CounterStoreUnavailableError } from "./limit-counters";

const REMEMBER_LUA = readFileSync(new URL("./remember.lua", import.meta.url), "utf8");
const REMEMBER_SLICE = 4_000;
type RememberCommand = (numKeys: number, ...args: (string | number)[]) => Promise<number>;

/** How long a run's trace is remembered: the longest retention (400 days) and a margin. */
const TTL_SECONDS = 401 * 86_400;

/** Where a trace started and how it was retained at creation (§9, R1). */
export interface TraceAnchor {
  createdAtMs: number;
  retention: "base" | "extended";
}

export interface RunTrace {
  traceId: string;
  workspaceId: string;
}

/**
 * The trace and workspace of every run the LangSmith API accepted, shared by all ingest
 * replicas: feedback and annotation-queue entries name only a run id (§8, L2, L3). Also which
 * workspace a trace belongs to, so a run cannot join another workspace's trace.
 */
export class RunTraceIndex {
  private readonly rememberCommand: RememberCommand;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    if (!(redis as unknown as Record<string, unknown>).ledgerRemember) redis.defineCommand("ledgerRemember", { lua: REMEMBER_LUA });
    this.rememberCommand = (redis as unknown as { ledgerRemember: RememberCommand }).ledgerRemember.bind(redis);
  }

  private runKey = (orgId: string, runId: string) => `${this.prefix}:run:${orgId}:${runId}`;
  private traceKey = (orgId: string, traceId: string) => `${this.prefix}:trace:${orgId}:${traceId}`;
  private anchorKey = (orgId: string, traceId: string) => `${this.prefix}:anchor:${orgId}:${traceId}`;

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new CounterStoreUnavailableError(`Redis did not answer: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The workspace each trace already belongs to (absent: not seen yet). */
  async traceOwners(orgId: string, traceIds: readonly string[]): Promise<Map<string, string>> {
    const unique = [...new Set(traceIds)];
    if (unique.length === 0) return new Map();
    const owners = await this.call(() => this.redis.mget(...unique.map((t) => this.traceKey(orgId, t))));
    return new Map(unique.flatMap((t, i) => (owners[i] ? [[t, owners[i]!] as const] : [])));
  }

  /** Traces created with a workspace's key on `POST /v1/events`: the first workspace keeps each. */
  async claimTraces(orgId: string, workspaceId: string, traceIds: readonly string[]): Promise<void> {
    const unique = [...new Set(traceIds)];
    for (let i = 0; i < unique.length; i += REMEMBER_SLICE) {
      const slice = unique.slice(i, i + REMEMBER_SLICE);
      await this.call(() => this.rememberCommand(slice.length, ...slice.map((t) => this.traceKey(orgId, t)), TTL_SECONDS, slice.length, ...slice.map(() => workspaceId)));
    }
  }

  async runs(orgId: string, runIds: readonly string[]): Promise<Map<string, RunTrace>> {
    const unique = [...new Set(runIds)];
    if (unique.length === 0) return new Map();
    const values = await this.call(() => this.redis.mget(...unique.map((r) => this.runKey(orgId, r))));
    return new Map(
      unique.flatMap((r, i) => {
        const v = values[i];
        if (!v) return [];
        const slash = v.indexOf("/");
        return [[r, { workspaceId: v.slice(0, slash), traceId: v.slice(slash + 1) }] as const];
      }),
    );
  }

  /** Where each trace started and its retention at creation, as far as known (absent: not seen). */
  async anchors(orgId: string, traceIds: readonly string[]): Promise<Map<string, TraceAnchor>> {
    const unique = [...new Set(traceIds)];
    if (unique.length === 0) return new Map();
    const values = await this.call(() => this.redis.mget(...unique.map((t) => this.anchorKey(orgId, t))));
    return new Map(
      unique.flatMap((t, i) => {
        const [at, retention] = (values[i] ?? "").split("/");
        return at && (retention === "base" || retention === "extended") ? [[t, { createdAtMs: Number(at), retention }] as const] : [];
      }),
    );
  }

  /**
   * Remembers accepted runs; the first workspace to name a trace or a run keeps it (a key of
   * another workspace that sends the same run id neither moves the run nor learns it exists).
   * A root run's anchor replaces one a child set before it; a child's anchor is only a stand-in
   * until then.
   */
  async remember(orgId: string, entries: readonly ({ runId: string } & RunTrace)[], anchors: readonly { traceId: string; anchor: TraceAnchor; root: boolean }[] = []): Promise<void> {
    if (entries.length === 0 && anchors.length === 0) return;
    // Keys set only if absent first (the script's contract), each trace's owner once.
    const ifAbsent = new Map<string, string>();
    const always = new Map<string, string>();
    for (const e of entries) {
      const owner = this.traceKey(orgId, e.traceId);
      if (!ifAbsent.has(owner)) ifAbsent.set(owner, e.workspaceId);
      const run = this.runKey(orgId, e.runId);
      if (!ifAbsent.has(run)) ifAbsent.set(run, `${e.workspaceId}/${e.traceId}`);
    }
    for (const a of anchors) {
      const value = `${a.anchor.createdAtMs}/${a.anchor.retention}`;
      if (a.root) always.set(this.anchorKey(orgId, a.traceId), value);
      else if (!ifAbsent.has(this.anchorKey(orgId, a.traceId))) ifAbsent.set(this.anchorKey(orgId, a.traceId), value);
    }
    // In slices, so that no call spreads more arguments than a stack holds (a 5 MB body of
    // tiny runs has tens of thousands); each SET stands alone and a retry repeats it harmlessly.
    const sets: [string, string, boolean][] = [...[...ifAbsent].map(([k, v]): [string, string, boolean] => [k, v, true]), ...[...always].map(([k, v]): [string, string, boolean] => [k, v, false])];
    for (let i = 0; i < sets.length; i += REMEMBER_SLICE) {
      const slice = sets.slice(i, i + REMEMBER_SLICE);
      const nx = slice.filter((s) => s[2]).length; // the if-absent ones come first in every slice
      await this.call(() => this.rememberCommand(slice.length, ...slice.map((s) => s[0]), TTL_SECONDS, nx, ...slice.map((s) => s[1])));
    }
  }
}
