// What the bench reads of its processes from /proc: CPU seconds (all threads, by thread) and peak memory.
import { readdirSync, readFileSync } from "node:fs";

const cpuOfStat = (stat: string) => {
  const fields = stat.replace(/^.*\) /s, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
};

/** CPU seconds a process has used so far (user + system, all its threads), from /proc. */
export function cpuSeconds(pid: number): number {
  return cpuOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
}

/** CPU seconds of a process's child processes (serve's embedded redis-server), from /proc. */
export function childrenCpuSeconds(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {
      continue; // the thread ended between the listing and the read
    }
    for (const child of children) {
      try {
        total += cpuSeconds(Number(child));
      } catch {
        // the child ended meanwhile
      }
    }
  }
  return total;
}

/**
 * CPU seconds of a process's threads so far, by thread name (ClickHouse names its pools:
 * ThreadPool, MergeMutate, …; Node's threads are all "node", so those are listed by size).
 */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const byThread = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = /\((.*)\)/s.exec(stat)![1]!;
      byThread.set(`${name}/${tid}`, cpuOfStat(stat));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byThread;
}

/** The timed part's CPU by thread group: the two busiest Node threads by themselves (the ingest thread and the main thread), the rest of Node's (libuv's pool, V8's), ClickHouse's pools by name. */
export function threadGroups(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const used = [...after].map(([k, v]) => [k.slice(0, k.lastIndexOf("/")), v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
  const node = used.filter(([name]) => name === "node").map(([, v]) => v).sort((a, b) => b - a);
  const groups: Record<string, number> = { node_busiest: node[0] ?? 0, node_second: node[1] ?? 0, node_other: node.slice(2).reduce((a, b) => a + b, 0) };
  for (const [name, v] of used) if (name !== "node") groups[name] = (groups[name] ?? 0) + v;
  return Object.fromEntries(Object.entries(groups).filter(([, v]) => v >= 0.5).map(([k, v]) => [k, Math.round(v * 10) / 10]).sort((a, b) => (b[1] as number) - (a[1] as number)));
}

export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

