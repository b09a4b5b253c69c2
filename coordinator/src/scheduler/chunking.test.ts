import { create } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, ImageFormat, JobSchema, TaskKind } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { buildChunks, costFactor, limitsFor, planChunks } from "./chunking.js";

const MiB = 1024 * 1024;
const limits = { maxItems: 16, maxBytes: 32 * MiB, minCount: 8 };
const sizesOf = (ranges: readonly (readonly [number, number])[]) => ranges.map(([start, end]) => end - start);

describe("planChunks", () => {
  it("spreads a small job over several chunks so that workers share it", () => {
    const ranges = planChunks(Array(10).fill(100_000), limits);
    expect(sizesOf(ranges)).toEqual([2, 2, 1, 1, 1, 1, 1, 1]);
  });

  it("gives each of fewer items than minCount a chunk of its own", () => {
    expect(sizesOf(planChunks(Array(3).fill(1), limits))).toEqual([1, 1, 1]);
  });

  it("keeps chunks at most maxItems, and at least minCount of them", () => {
    const ranges = planChunks(Array(100).fill(1_000), limits);
    expect(ranges.length).toBeGreaterThanOrEqual(8);
    expect(Math.max(...sizesOf(ranges))).toBeLessThanOrEqual(16);
    const big = planChunks(Array(1_000).fill(1_000), limits);
    expect(big.length).toBeGreaterThanOrEqual(63);
    expect(Math.max(...sizesOf(big))).toBe(16);
  });

  it("tapers: chunks never grow, the last one holds one item and the last one per slot at most two", () => {
    for (const [n, slots] of [
      [48, 2],
      [100, 4],
      [1_000, 16],
      [10_000, 16],
    ] as const) {
      const sizes = sizesOf(planChunks(Array(n).fill(1_000), { ...limits, minCount: 4 * slots, slots }));
      for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeLessThanOrEqual(sizes[i - 1] as number);
      expect(sizes.at(-1)).toBe(1);
      expect(Math.max(...sizes.slice(-slots))).toBeLessThanOrEqual(2);
      // Tapering adds few chunks: the tail is cut finer, not the job.
      expect(sizes.length).toBeLessThan(Math.max(Math.ceil(n / 16), 4 * slots) + 4 * slots * Math.log2(16) + 1);
    }
  });

  it("ends a job on its slots within two items' time of each other, well within what equal chunks leave", () => {
    // Slots take chunks in order as they free up; the gap between the first and the last slot to end.
    const gapAtEnd = (ranges: readonly (readonly [number, number])[], slots: number, cost: readonly number[]) => {
      const busyUntil = Array<number>(slots).fill(0);
      for (const [start, end] of ranges) {
        const slot = busyUntil.indexOf(Math.min(...busyUntil));
        for (let i = start; i < end; i++) busyUntil[slot] = (busyUntil[slot] as number) + (cost[i] as number);
      }
      return Math.max(...busyUntil) - Math.min(...busyUntil);
    };
    for (const [n, slots] of [
      [48, 2],
      [200, 8],
    ] as const) {
      let tapered = 0;
      let equal = 0;
      for (let seed = 0; seed < 20; seed++) {
        // Uneven images: 1 to 4 units each, from a seeded generator.
        let x = seed * 7919 + 1;
        const cost = Array.from({ length: n }, () => {
          x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
          return 1 + ((x >>> 16) % 4);
        });
        const gap = gapAtEnd(planChunks(Array(n).fill(1_000), { ...limits, minCount: 4 * slots, slots }), slots, cost);
        expect(gap).toBeLessThanOrEqual(2 * 4);
        tapered += gap;
        const share = n / (4 * slots);
        const equalRanges = Array.from(
          { length: 4 * slots },
          (_, k) => [Math.round(k * share), Math.round((k + 1) * share)] as const,
        );
        equal += gapAtEnd(equalRanges, slots, cost);
      }
      expect(tapered).toBeLessThan(equal / 1.5);
    }
  });

  it("covers every item once, in order", () => {
    const ranges = planChunks(Array(1_234).fill(5 * MiB), limits);
    let next = 0;
    for (const [start, end] of ranges) {
      expect(start).toBe(next);
      expect(end).toBeGreaterThan(start);
      next = end;
    }
    expect(next).toBe(1_234);
  });

  it("cuts a chunk before its bytes pass maxBytes", () => {
    const ranges = planChunks(Array(16).fill(10 * MiB), { ...limits, minCount: 1 });
    expect(Math.max(...sizesOf(ranges))).toBe(3);
    expect(sizesOf(ranges).reduce((a, b) => a + b, 0)).toBe(16);
  });

  it("puts an item larger than maxBytes alone", () => {
    const ranges = planChunks([MiB, 100 * MiB, MiB], { ...limits, minCount: 1 });
    expect(ranges).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
  });

  it("plans nothing for no items", () => {
    expect(planChunks([], limits)).toEqual([]);
  });
});

describe("cost", () => {
  it("makes AVIF and searched targets costlier than a plain JPEG", () => {
    const jpeg = create(CompressionOptionsSchema, { format: ImageFormat.JPEG });
    const avif = create(CompressionOptionsSchema, { format: ImageFormat.AVIF });
    const ssim = create(CompressionOptionsSchema, {
      format: ImageFormat.JPEG,
      target: { goal: { case: "minSsim", value: 0.95 } },
    });
    expect(costFactor(jpeg)).toBe(1);
    expect(costFactor(avif)).toBeGreaterThan(costFactor(jpeg));
    expect(costFactor(ssim)).toBeGreaterThan(costFactor(jpeg));
    expect(limitsFor(avif, limits).maxItems).toBeLessThan(limits.maxItems);
    expect(limitsFor(jpeg, limits)).toEqual(limits);
  });
});

describe("buildChunks: one set of chunks per task", () => {
  const items = Array.from({ length: 10 }, (_, i) => ({
    bucket: "imgc",
    key: `uploads/acme/j/${i}.jpg`,
    size: 1_000,
    missing: i === 3,
  }));
  const jobWith = (tasks: TaskKind[]) =>
    create(JobSchema, {
      id: "job1",
      tenant: "acme",
      tasks,
      options: { format: ImageFormat.WEBP },
      ...(tasks.includes(TaskKind.DETECT) ? { detection: { minScore: 0.4, labels: ["cup"] } } : {}),
    });

  it("cuts the same items for each kind, DETECT chunks numbered after the COMPRESS ones", () => {
    const list = buildChunks(jobWith([TaskKind.COMPRESS, TaskKind.DETECT]), items, limits, "imgc");
    const compress = list.filter((chunk) => chunk.kind === TaskKind.COMPRESS);
    const detect = list.filter((chunk) => chunk.kind === TaskKind.DETECT);
    expect(compress).toHaveLength(8);
    expect(detect).toHaveLength(8);
    expect(list.map((chunk) => chunk.index)).toEqual(list.map((_, i) => i));
    expect(Math.min(...detect.map((chunk) => chunk.index))).toBe(8);
    const idsOf = (chunks: typeof list) => chunks.flatMap((chunk) => chunk.items.map((item) => item.itemId));
    expect(idsOf(detect)).toEqual(idsOf(compress));
    expect(idsOf(detect)).not.toContain("3");
    expect(compress.every((chunk) => chunk.options?.format === ImageFormat.WEBP && !chunk.detection)).toBe(true);
    expect(detect.every((chunk) => chunk.detection?.labels[0] === "cup" && !chunk.options)).toBe(true);
  });

  it("makes COMPRESS chunks only for a job from before tasks, DETECT chunks only for a DETECT-only job", () => {
    expect(buildChunks(jobWith([]), items, limits, "imgc").map((chunk) => chunk.kind)).toEqual(
      Array(8).fill(TaskKind.COMPRESS),
    );
    const detect = buildChunks(jobWith([TaskKind.DETECT]), items, limits, "imgc");
    expect(detect.map((chunk) => [chunk.kind, chunk.index])).toEqual(
      Array.from({ length: 8 }, (_, i) => [TaskKind.DETECT, i]),
    );
  });
});
