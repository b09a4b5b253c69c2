/**
 * Memory and CPU of a process and its children, read from /proc (Linux): a worker's engine children count
 * towards the worker. Elsewhere the figures are reported as unavailable rather than guessed.
 */
import { readdirSync, readFileSync } from "node:fs";

const ticksPerSecond = 100;

function read(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** The process and all its descendants. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const parent = out[i] as number;
    const children = read(`/proc/${parent}/task/${parent}/children`);
    for (const child of children?.trim().split(/\s+/) ?? []) if (child) out.push(Number(child));
  }
  return out;
}

function statusField(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(read(`/proc/${pid}/status`) ?? "");
  return match ? Number(match[1]) * 1024 : 0;
}

export const rssBytes = (pid: number) => statusField(pid, "VmRSS");
/** The process's own peak resident set since it started. */
export const peakRssBytes = (pid: number) => statusField(pid, "VmHWM");

/**
 * User + system CPU seconds the process has used; with `reaped`, also those of its children that have exited
 * and been waited for (the kernel adds them to the parent's cutime and cstime).
 */
export function cpuSeconds(pid: number, options: { reaped?: boolean } = {}): number {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  // Fields after the command name (which may hold spaces) start past the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const own = Number(fields[11]) + Number(fields[12]);
  return (options.reaped ? own + Number(fields[13]) + Number(fields[14]) : own) / ticksPerSecond;
}

export const available = read("/proc/self/status") !== undefined;

/**
 * Samples the resident memory of each tree every `everyMs`; `stop` returns, per tree, the highest sum seen
 * (the tree's peak footprint) and the highest single-process peak (VmHWM) in it.
 */
export function sampleTrees(roots: Record<string, number>, everyMs = 100) {
  const peak: Record<string, { treeBytes: number; processes: Map<number, number> }> = {};
  for (const name of Object.keys(roots)) peak[name] = { treeBytes: 0, processes: new Map() };
  const sample = () => {
    for (const [name, root] of Object.entries(roots)) {
      const entry = peak[name];
      if (!entry) continue;
      let sum = 0;
      for (const pid of processTree(root)) {
        sum += rssBytes(pid);
        entry.processes.set(pid, Math.max(entry.processes.get(pid) ?? 0, peakRssBytes(pid)));
      }
      entry.treeBytes = Math.max(entry.treeBytes, sum);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Object.fromEntries(
        Object.entries(peak).map(([name, entry]) => [
          name,
          { peakTreeBytes: entry.treeBytes, peakProcessBytes: [...entry.processes.values()] },
        ]),
      );
    },
  };
}

/**
 * CPU seconds used by the trees (or only the processes themselves) between now and `stop`. A tree is read
 * afresh each time and counts its exited children too, so that children started, replaced or ended in between
 * (a worker's engine children) are all counted, and none is counted twice.
 */
export function cpuMeter(roots: number[], options: { withChildren?: boolean } = {}) {
  const own = options.withChildren === false;
  const pids = () => (own ? roots : roots.flatMap((root) => processTree(root)));
  const total = () => pids().reduce((sum, pid) => sum + cpuSeconds(pid, { reaped: !own }), 0);
  const started = total();
  return { stop: () => total() - started };
}

/** Processes whose command line holds every one of `parts` (to find the NATS and S3 servers by their port). */
export function findProcesses(...parts: string[]): number[] {
  if (!available) return [];
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      const args = (read(`/proc/${pid}/cmdline`) ?? "").split("\0");
      return parts.every((part) => args.includes(part));
    })
    .map(Number);
}
