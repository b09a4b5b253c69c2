import { create } from "@bufbuild/protobuf";
import { WorkerStatusSchema } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { Throughput } from "./throughput.js";

const snapshot = (at: number, done: Record<string, number>) => ({
  at,
  lanes: [],
  workers: Object.entries(done).map(([id, n]) => create(WorkerStatusSchema, { id, itemsDone: BigInt(n) })),
});

describe("Throughput", () => {
  test("counts growth of items_done per worker into time buckets", () => {
    const t = new Throughput(60_000, 10_000);
    const start = 1_000_000_000_000;
    t.add(snapshot(start, { a: 100, b: 5 })); // first sight: no growth counted
    t.add(snapshot(start + 2_000, { a: 110, b: 5 }));
    t.add(snapshot(start + 10_000, { a: 115, b: 25 }));
    const buckets = t.buckets(start + 10_000);
    expect(buckets).toHaveLength(6);
    // All of it happened in [start, start + 10 s); the bucket starting at "now" is still empty.
    expect(buckets.map((b) => b.items)).toEqual([0, 0, 0, 0, 35, 0]);
  });

  test("a worker that restarts (counter back to zero) or leaves adds nothing negative", () => {
    const t = new Throughput(60_000, 10_000);
    const start = 2_000_000_000_000;
    t.add(snapshot(start, { a: 50 }));
    t.add(snapshot(start + 1_000, { a: 3 }));
    t.add(snapshot(start + 2_000, { a: 7, c: 40 }));
    t.add(snapshot(start + 3_000, {}));
    expect(t.buckets(start + 3_000).reduce((s, b) => s + b.items, 0)).toBe(4);
  });

  test("growth between sparse snapshots is spread over the buckets it spans", () => {
    const t = new Throughput(60_000, 10_000);
    const start = 4_000_000_000_000;
    t.add(snapshot(start, { a: 0 }));
    t.add(snapshot(start + 30_000, { a: 60 }));
    expect(t.buckets(start + 30_000).map((b) => b.items)).toEqual([0, 0, 20, 20, 20, 0]);
  });

  test("the recent rate spreads the last buckets over the time they cover", () => {
    const t = new Throughput(60_000, 10_000);
    const start = 3_000_000_000_000;
    t.add(snapshot(start, { a: 0 }));
    t.add(snapshot(start + 5_000, { a: 30 }));
    // 30 items over one full bucket (10 s) and 5 s of the current one.
    expect(t.recentRate(start + 5_000)).toBeCloseTo(2, 5);
  });
});
