/** Items finished: a running total and the rate over a sliding window (one bucket per second, no per-item memory). */
export interface Throughput {
  readonly total: number;
  record(count?: number): void;
  /** Items per second over the last `windowMs`, or over the worker's life when it is younger than that. */
  perSecond(): number;
}

export function createThroughput(windowMs = 60_000, now: () => number = Date.now): Throughput {
  const started = now();
  const seconds = Math.max(1, Math.ceil(windowMs / 1000));
  const buckets = new Array<number>(seconds).fill(0);
  const stamps = new Array<number>(seconds).fill(-1);
  let total = 0;
  return {
    get total() {
      return total;
    },
    record(count = 1) {
      const second = Math.floor(now() / 1000);
      const slot = second % seconds;
      if (stamps[slot] !== second) {
        stamps[slot] = second;
        buckets[slot] = 0;
      }
      buckets[slot] = (buckets[slot] ?? 0) + count;
      total += count;
    },
    perSecond() {
      const t = now();
      const second = Math.floor(t / 1000);
      let sum = 0;
      for (let i = 0; i < seconds; i++) {
        const stamp = stamps[i] ?? -1;
        if (stamp > second - seconds) sum += buckets[i] ?? 0;
      }
      const spanMs = Math.min(windowMs, Math.max(1_000, t - started));
      return sum / (spanMs / 1000);
    },
  };
}
