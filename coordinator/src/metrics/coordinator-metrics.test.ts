import { create } from "@bufbuild/protobuf";
import {
  createLogger,
  createMetricsRegistry,
  grpcHealthProbe,
  type Registry,
  TASKS_STREAM,
  taskConsumer,
} from "@imgc/common";
import { ErrorCode, ItemResultSchema, ItemState, JobState } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Coordinator } from "../coordinator.js";
import { build, createHealth, listen } from "../server.js";
import {
  doneResult,
  eventually,
  heartbeat,
  pullChunks,
  removeWorker,
  startTestStack,
  type TestCoordinator,
  type TestStack,
} from "../testing/harness.js";
import { createCoordinatorMetrics } from "./coordinator-metrics.js";

const log = createLogger("coordinator-test", process.env.IMGC_TEST_LOG ?? "silent");
let stack: TestStack;
let nc: NatsConnection;
let registry: Registry;
let coordinator: Coordinator;
let jobs: TestCoordinator["jobs"];
let cluster: TestCoordinator["cluster"];

beforeAll(async () => {
  registry = createMetricsRegistry();
  const metrics = createCoordinatorMetrics(registry, log);
  const wrap = { jobService: metrics.jobService, clusterService: metrics.clusterService };
  stack = await startTestStack({ observer: metrics.observer, wrap });
  ({ nc } = stack);
  ({ coordinator, jobs, cluster } = stack.t);
  metrics.track({
    openJobs: () => coordinator.lifecycle.openJobIds().length,
    workers: () => coordinator.membership.list(),
    laneStats: coordinator.laneStats,
  });
  for (const name of ["a.jpg", "b.jpg", "c.jpg"]) stack.t.storage.put(`uploads/default/u/${name}`, 100);
});

afterAll(() => stack?.stop());

/** Past the window in which one scrape's queue counters are reused. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

async function sample(series: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("coordinator metrics", () => {
  test("a job's life moves the job, item, claim, RPC and queue metrics", async () => {
    expect(await sample('imgc_jobs_submitted_total{priority="normal"}')).toBe(0);
    const { job } = await jobs.submitJob({
      sources: ["a.jpg", "b.jpg", "c.jpg"].map((n) => ({
        kind: { case: "uploadKey", value: `uploads/default/u/${n}` },
      })),
    });
    const jobId = job?.id ?? "";
    expect(await sample('imgc_jobs_submitted_total{priority="normal"}')).toBe(1);
    expect(await sample("imgc_jobs_active")).toBe(1);
    // minCount 2: three items make two chunks, both waiting in the normal lane.
    await settle();
    expect(await sample('imgc_queue_pending{priority="normal",kind="compress"}')).toBe(2);
    expect(await sample('imgc_queue_pending{priority="high",kind="compress"}')).toBe(0);
    expect(await sample('imgc_queue_pending{priority="normal",kind="detect"}')).toBe(0);

    await heartbeat(nc, "w1");
    await eventually(async () => (await sample("imgc_workers_alive")) === 1);
    expect(await sample("imgc_cluster_slots")).toBe(2);

    const pulled = await pullChunks(nc, 2);
    expect(pulled).toHaveLength(2);
    await settle();
    expect(await sample('imgc_queue_ack_pending{priority="normal",kind="compress"}')).toBe(2);
    expect(await sample('imgc_queue_pending{priority="normal",kind="compress"}')).toBe(0);

    const [first, second] = pulled as [(typeof pulled)[0], (typeof pulled)[0]];
    const claim = await cluster.claimChunk({ workerId: "w1", jobId, index: first.chunk.index, delivery: 1 });
    for (const itemId of claim.pendingItemIds) {
      await cluster.reportItem({
        workerId: "w1",
        jobId,
        chunkIndex: first.chunk.index,
        result: doneResult(itemId, 1000, 400, first.chunk.outputPrefix),
      });
    }
    // A repeated report changes nothing and is counted as a duplicate.
    const again = await cluster.reportItem({
      workerId: "w1",
      jobId,
      chunkIndex: first.chunk.index,
      result: doneResult(claim.pendingItemIds[0] ?? "", 1000, 400, first.chunk.outputPrefix),
    });
    expect(again.accepted).toBe(false);
    await cluster.completeChunk({ workerId: "w1", jobId, index: first.chunk.index });
    first.ack();

    // The second chunk comes as a redelivery and its item fails.
    const claim2 = await cluster.claimChunk({ workerId: "w1", jobId, index: second.chunk.index, delivery: 2 });
    for (const itemId of claim2.pendingItemIds) {
      const failed = create(ItemResultSchema, {
        itemId,
        state: ItemState.FAILED,
        errorCode: ErrorCode.CORRUPT_INPUT,
        inputBytes: 100n,
        durationMs: 12,
      });
      await cluster.reportItem({ workerId: "w1", jobId, chunkIndex: second.chunk.index, result: failed });
    }
    await cluster.completeChunk({ workerId: "w1", jobId, index: second.chunk.index });
    second.ack();

    const ended = await eventually(async () => {
      const { job: now } = await jobs.getJob({ jobId });
      return now?.state === JobState.COMPLETED_WITH_ERRORS ? now : undefined;
    });
    const done = (ended.counts?.done ?? 0) as number;
    expect(done + (ended.counts?.failed ?? 0)).toBe(3);
    expect(await sample('imgc_items_total{state="done"}')).toBe(done);
    expect(await sample('imgc_items_total{state="failed"}')).toBe(ended.counts?.failed);
    expect(await sample('imgc_item_errors_total{code="CORRUPT_INPUT"}')).toBe(ended.counts?.failed);
    expect(await sample("imgc_bytes_out_total")).toBe(400 * done);
    expect(await sample('imgc_item_duration_seconds_count{format="webp"}')).toBe(done);
    expect(await sample('imgc_jobs_ended_total{state="completed_with_errors"}')).toBe(1);
    expect(await sample("imgc_jobs_active")).toBe(0);
    expect(await sample("imgc_chunk_claims_total")).toBe(2);
    expect(await sample("imgc_chunk_redeliveries_total")).toBe(1);
    expect(await sample("imgc_duplicate_reports_total")).toBe(1);
    expect(await sample('imgc_rpc_requests_total{method="ClusterService/ReportItem",code="OK"}')).toBe(4);
    expect(await sample('imgc_rpc_duration_seconds_count{method="JobService/SubmitJob"}')).toBe(1);

    await removeWorker(nc, "w1");
    await eventually(async () => (await sample("imgc_workers_alive")) === 0);
  });

  test("failed RPCs are counted by gRPC code", async () => {
    await expect(jobs.getJob({ jobId: "AAAAAAAAAAAAAAAAAAAA" })).rejects.toThrow();
    expect(await sample('imgc_rpc_requests_total{method="JobService/GetJob",code="NOT_FOUND"}')).toBe(1);
    // (A bad worker id is refused before the handler since callers are authenticated: a worker acts only as itself.)
    await expect(
      cluster.reportItem({ workerId: "w1", jobId: "AAAAAAAAAAAAAAAAAAAA", chunkIndex: 0 }),
    ).rejects.toThrow();
    expect(await sample('imgc_rpc_requests_total{method="ClusterService/ReportItem",code="INVALID_ARGUMENT"}')).toBe(1);
  });

  test("the lane gauges read the task consumers", async () => {
    const info = await (await nc.jetstreamManager()).consumers.info(TASKS_STREAM, taskConsumer("low"));
    await settle();
    expect(await sample('imgc_queue_pending{priority="low",kind="compress"}')).toBe(info.num_pending);
  });
});

describe("the gRPC health probe (readiness of the coordinator)", () => {
  test("passes while the server is SERVING and fails once it is NOT_SERVING or gone", async () => {
    const health = createHealth();
    const server = build({
      jobService: coordinator.jobService,
      clusterService: coordinator.clusterService,
      log,
      health,
    });
    const port = await listen(server, "127.0.0.1", 0);
    const probe = grpcHealthProbe(`127.0.0.1:${port}`);
    try {
      await expect(probe.check(2_000)).resolves.toBeUndefined();
      health.setStatus("", "NOT_SERVING");
      await expect(probe.check(2_000)).rejects.toThrow(/status 2/);
      server.forceShutdown();
      await expect(probe.check(500)).rejects.toThrow(/health check failed/);
    } finally {
      probe.close();
      server.forceShutdown();
    }
  });

  test("a port where nothing listens fails within the deadline", async () => {
    const probe = grpcHealthProbe("127.0.0.1:1");
    const started = Date.now();
    await expect(probe.check(300)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3_000);
    probe.close();
  });
});
