/** What the cluster benchmarks share: summary statistics, and waiting on the cluster and on the no-op workers. */
import type { Cluster } from "../../tests/harness/index.js";

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

export const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Until the coordinator lists exactly `count` workers. */
export async function untilWorkers(c: Cluster, count: number): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if ((await c.cluster.listWorkers({})).workers.length === count) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the coordinator did not see ${count} workers`);
}

/** Until `count()` reaches `target` (chunks acked by the no-op workers, say). */
export async function untilCount(count: () => number, target: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (count() < target) {
    if (Date.now() > deadline) throw new Error(`only ${count()} of ${target} reached`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
