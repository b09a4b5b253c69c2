import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AbortedError,
  createLogger,
  createMetricsRegistry,
  parseTraceparent,
  type Registry,
  TRACEPARENT,
} from "@imgc/common";
import {
  ChunkItemSchema,
  ChunkSchema,
  ErrorCode,
  ImageFormat,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  WorkerStatusSchema,
} from "@imgc/proto";
import { describe, expect, test } from "vitest";
import {
  type ClusterServiceStub,
  type CoordinatorClient,
  CoordinatorUnreachable,
  createCoordinatorClient,
} from "../coordinator-client.js";
import { threadsPerChild } from "../engine-pool.js";
import { createWorkerMetrics } from "./worker-metrics.js";

const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const chunk = create(ChunkSchema, {
  jobId: "job1",
  index: 3,
  traceParent,
  items: [create(ChunkItemSchema, { itemId: "000001", key: "uploads/a.jpg", size: 10n })],
});
const item = chunk.items[0] ?? create(ChunkItemSchema, {});

async function sample(registry: Registry, series: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("test", "info");
  const sink = log.child({});
  sink.info = ((obj: Record<string, unknown>, msg: string) => {
    lines.push({ ...obj, msg });
  }) as typeof sink.info;
  return { lines, log: sink };
}

describe("worker metrics", () => {
  test("each processed item is counted and logged with its job, chunk, item and trace ids", async () => {
    const registry = createMetricsRegistry();
    const { lines, log } = capture();
    const metrics = createWorkerMetrics(registry, log);
    const results: ItemResult[] = [
      create(ItemResultSchema, {
        itemId: "000001",
        state: ItemState.DONE,
        format: ImageFormat.AVIF,
        inputBytes: 5000n,
        outputBytes: 900n,
        durationMs: 1500,
      }),
      create(ItemResultSchema, {
        itemId: "000001",
        state: ItemState.FAILED,
        errorCode: ErrorCode.TIMEOUT,
        inputBytes: 5000n,
        durationMs: 60_000,
      }),
    ];
    let next = 0;
    const processItem = metrics.processItem(async () => results[next++] as ItemResult);
    await processItem(chunk, item, new AbortController().signal);
    await processItem(chunk, item, new AbortController().signal);

    expect(await sample(registry, 'imgc_worker_items_total{state="done"}')).toBe(1);
    expect(await sample(registry, 'imgc_worker_items_total{state="failed"}')).toBe(1);
    expect(await sample(registry, 'imgc_worker_item_errors_total{code="TIMEOUT"}')).toBe(1);
    expect(await sample(registry, "imgc_worker_bytes_in_total")).toBe(10_000);
    expect(await sample(registry, "imgc_worker_bytes_out_total")).toBe(900);
    expect(await sample(registry, 'imgc_worker_item_duration_seconds_bucket{le="2.5",format="avif"}')).toBe(1);
    expect(await sample(registry, 'imgc_worker_item_duration_seconds_count{format="none"}')).toBe(1);

    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      msg: "item",
      jobId: "job1",
      chunk: "job1.3",
      item: "000001",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      state: "DONE",
      format: "AVIF",
      bytesOut: 900,
    });
    expect(lines[1]).toMatchObject({ state: "FAILED", code: "TIMEOUT", ms: 60_000 });
  });

  test("claims, redeliveries, completions, releases and coordinator failures are counted", async () => {
    const registry = createMetricsRegistry();
    const metrics = createWorkerMetrics(registry, createLogger("test", "silent"));
    let fail: unknown;
    const inner: CoordinatorClient = {
      async claim() {
        if (fail) throw fail;
        return { pendingItemIds: ["000001"], cancelled: false } as never;
      },
      async report() {
        if (fail) throw fail;
        return { accepted: true, cancelled: false } as never;
      },
      async reportMany() {
        if (fail) throw fail;
        return { accepted: [true], cancelled: false } as never;
      },
      async complete() {
        if (fail) throw fail;
      },
    };
    const coordinator = metrics.coordinator(inner);
    await coordinator.claim(chunk, 1);
    await coordinator.claim(chunk, 3);
    await coordinator.complete(chunk, false);
    await coordinator.complete(chunk, true);
    await coordinator.reportMany(chunk, { started: [], results: [], complete: false });
    await coordinator.reportMany(chunk, { started: [], results: [], complete: true });
    fail = new CoordinatorUnreachable("ReportItem: down", { cause: new ConnectError("down", Code.Unavailable) });
    await expect(coordinator.report(chunk, create(ItemResultSchema, {}))).rejects.toThrow();
    fail = new ConnectError("no such chunk", Code.NotFound);
    await expect(coordinator.claim(chunk, 1)).rejects.toThrow();
    fail = new AbortedError("released");
    await expect(coordinator.complete(chunk, false)).rejects.toThrow();

    expect(await sample(registry, "imgc_worker_chunks_claimed_total")).toBe(2);
    expect(await sample(registry, "imgc_worker_chunk_redeliveries_total")).toBe(1);
    expect(await sample(registry, 'imgc_worker_chunks_completed_total{how="completed"}')).toBe(2);
    expect(await sample(registry, 'imgc_worker_chunks_completed_total{how="released"}')).toBe(1);
    expect(await sample(registry, 'imgc_worker_coordinator_errors_total{call="ReportItem",code="UNAVAILABLE"}')).toBe(
      1,
    );
    expect(await sample(registry, 'imgc_worker_coordinator_errors_total{call="ClaimChunk",code="NOT_FOUND"}')).toBe(1);
    // An abandoned call (the chunk was released) is no failure.
    expect(await sample(registry, 'imgc_worker_coordinator_errors_total{call="CompleteChunk",code="UNKNOWN"}')).toBe(
      undefined,
    );
  });

  test("slot, busy, draining and rate gauges read the worker's status at scrape time", async () => {
    const registry = createMetricsRegistry();
    const metrics = createWorkerMetrics(registry, createLogger("test", "silent"));
    let status = create(WorkerStatusSchema, { slots: 4, busy: 1, itemsPerSecond: 2.5 });
    metrics.track(() => status);
    expect(await sample(registry, "imgc_worker_slots")).toBe(4);
    expect(await sample(registry, "imgc_worker_slots_busy")).toBe(1);
    expect(await sample(registry, "imgc_worker_draining")).toBe(0);
    expect(await sample(registry, "imgc_worker_items_per_second")).toBe(2.5);
    status = create(WorkerStatusSchema, { slots: 4, busy: 3, draining: true });
    expect(await sample(registry, "imgc_worker_slots_busy")).toBe(3);
    expect(await sample(registry, "imgc_worker_draining")).toBe(1);
  });
});

describe("the worker's calls carry the chunk's trace context", () => {
  test("ClaimChunk, ReportItem(s) and CompleteChunk send traceparent in their metadata", async () => {
    const seen: (Record<string, string> | undefined)[] = [];
    const client: ClusterServiceStub = {
      claimChunk: async (_request, options) => {
        seen.push(options?.headers);
        return { pendingItemIds: [], cancelled: false } as never;
      },
      reportItem: async (_request, options) => {
        seen.push(options?.headers);
        return { accepted: true, cancelled: false } as never;
      },
      reportItems: async (_request, options) => {
        seen.push(options?.headers);
        return { accepted: [true], cancelled: false } as never;
      },
      completeChunk: async (_request, options) => {
        seen.push(options?.headers);
        return {} as never;
      },
    };
    const coordinator = createCoordinatorClient({ client, workerId: "w1", log: createLogger("test", "silent") });
    await coordinator.claim(chunk, 1);
    await coordinator.report(chunk, create(ItemResultSchema, { itemId: "000001", state: ItemState.DONE }));
    await coordinator.reportMany(chunk, { started: [], results: [], complete: true });
    await coordinator.complete(chunk, false);
    expect(seen).toHaveLength(4);
    for (const headers of seen)
      expect(parseTraceparent(headers?.[TRACEPARENT])?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    // A chunk without a trace sends no header.
    await coordinator.claim(create(ChunkSchema, { jobId: "job2" }), 1);
    expect(seen[4]?.[TRACEPARENT]).toBeUndefined();
  });
});

describe("libvips threads per engine child", () => {
  test("VIPS_CONCURRENCY wins; otherwise the cores are shared out, at least one each", () => {
    expect(threadsPerChild(4, { VIPS_CONCURRENCY: "3" })).toBe(3);
    expect(threadsPerChild(1, {})).toBeGreaterThanOrEqual(1);
    expect(threadsPerChild(10_000, {})).toBe(1);
    expect(threadsPerChild(2, { VIPS_CONCURRENCY: "zero" })).toBe(threadsPerChild(2, {}));
  });
});
