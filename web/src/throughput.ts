/**
 * Images finished per second across the cluster, over the last minutes. Counted from the growth of each
 * worker's items_done between snapshots (spread evenly over the time between them), so it holds whatever the
 * polling rate; a worker seen for the first time (or restarted, its counter back at zero) adds nothing until
 * its next snapshot.
 */
import type { ClusterSnapshot } from "./api.js";

export interface Bucket {
  /** Start of the bucket, ms since the epoch. */
  start: number;
  /** Images finished in it. */
  items: number;
}

export class Throughput {
  private readonly last = new Map<string, number>();
  private readonly counts = new Map<number, number>();
  private lastAt = 0;

  constructor(
    readonly windowMs = 5 * 60_000,
    readonly bucketMs = 10_000,
  ) {}

  add(snapshot: ClusterSnapshot): void {
    let grown = 0;
    for (const worker of snapshot.workers) {
      const done = Number(worker.itemsDone);
      const before = this.last.get(worker.id);
      this.last.set(worker.id, done);
      if (before !== undefined && done >= before) grown += done - before;
    }
    // Spread over the time since the previous snapshot, so sparse polling still draws a fair history.
    const from = this.lastAt && this.lastAt < snapshot.at ? this.lastAt : snapshot.at - 1;
    for (let start = Math.floor(from / this.bucketMs) * this.bucketMs; start < snapshot.at; start += this.bucketMs) {
      const overlap = Math.min(snapshot.at, start + this.bucketMs) - Math.max(from, start);
      if (overlap > 0 && grown > 0) {
        this.counts.set(start, (this.counts.get(start) ?? 0) + (grown * overlap) / (snapshot.at - from));
      }
    }
    this.lastAt = snapshot.at;
    for (const start of this.counts.keys()) if (start < snapshot.at - this.windowMs) this.counts.delete(start);
  }

  /** Every bucket of the window ending now, oldest first (empty ones included). */
  buckets(now = this.lastAt || Date.now()): Bucket[] {
    const end = Math.floor(now / this.bucketMs) * this.bucketMs;
    const n = Math.round(this.windowMs / this.bucketMs);
    return Array.from({ length: n }, (_, i) => {
      const start = end - (n - 1 - i) * this.bucketMs;
      return { start, items: this.counts.get(start) ?? 0 };
    });
  }

  /** Images per second over the last complete bucket and the one in progress. */
  recentRate(now = this.lastAt || Date.now()): number {
    const all = this.buckets(now);
    const recent = all.slice(-2);
    const elapsed = this.bucketMs + (now - (all.at(-1)?.start ?? now));
    return recent.reduce((sum, b) => sum + b.items, 0) / (elapsed / 1000);
  }
}
