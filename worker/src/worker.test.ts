import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import {
  AbortedError,
  BROADCAST_SUBJECT,
  createGrpcJsClient,
  createLogger,
  decodeMessage,
  encodeMessage,
  ensureTopology,
  sleep,
  type Topology,
  taskSubject,
} from "@imgc/common";
import {
  type Chunk,
  ChunkSchema,
  ClusterService,
  DetectionOptionsSchema,
  ErrorCode,
  ItemResultSchema,
  ItemState,
  TaskKind,
  type WorkerStatus,
  WorkerStatusSchema,
} from "@imgc/proto";
import { connect, type NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../scripts/lib/test-nats.js";
import { createCoordinatorClient } from "./coordinator-client.js";
import { createEnginePool } from "./engine-pool.js";
import { createItemProcessor, type ObjectStore, type ProcessItem } from "./process-item.js";
import { type FakeBehaviour, startFakeCoordinator } from "./testing/fake-coordinator.js";
import { createWorker, type Worker } from "./worker.js";

const log = createLogger("test", process.env.TEST_LOG ?? "silent");
const ACK_WAIT_MS = 1_500;
let server: TestNats;
let nc: NatsConnection;
let topology: Topology;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  // A short AckWait, so a chunk that outlives it proves the in-progress acks.
  topology = await ensureTopology(nc, {
    ackWaitMs: ACK_WAIT_MS,
    maxDeliver: 5,
    workerTtlMs: 10_000,
    eventsMaxAgeMs: 3600_000,
  });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  await topology.jsm.streams.purge("IMGC_TASKS");
});

function chunk(jobId: string, itemIds: string[]): Chunk {
  return create(ChunkSchema, {
    jobId,
    tenant: "t",
    index: 0,
    items: itemIds.map((itemId) => ({ itemId, bucket: "imgc", key: `uploads/t/x/${itemId}.jpg`, size: 10n })),
    outputBucket: "imgc",
    outputPrefix: `outputs/t/${jobId}/`,
  });
}

async function publish(c: Chunk) {
  await nc.jetstream().publish(taskSubject("normal"), encodeMessage(ChunkSchema, c));
}

/** A processItem that takes `ms` per item and honours the release signal. */
function slowItems(ms: number, seen: string[] = []): ProcessItem {
  return async (_chunk, item, signal) => {
    seen.push(item.itemId);
    await sleep(ms, signal).catch(() => {
      throw new AbortedError("released");
    });
    return create(ItemResultSchema, { itemId: item.itemId, state: ItemState.DONE, workerId: "w" });
  };
}

async function startCoordinator(behaviour: FakeBehaviour) {
  const coordinator = await startFakeCoordinator(behaviour);
  cleanups.push(() => coordinator.stop());
  return coordinator;
}

async function startWorker(
  coordinatorUrl: string,
  processItem: ProcessItem,
  options: {
    slots?: number;
    drainTimeoutMs?: number;
    retryBudgetMs?: number;
    id?: string;
    capabilities?: TaskKind[];
  } = {},
): Promise<Worker> {
  const client = createGrpcJsClient(ClusterService, coordinatorUrl);
  const id = options.id ?? `w-${Math.random().toString(36).slice(2, 8)}`;
  const worker = createWorker({
    nc,
    workers: topology.workers,
    coordinator: createCoordinatorClient({ client, workerId: id, log, retryBudgetMs: options.retryBudgetMs ?? 5_000 }),
    processItem,
    identity: {
      id,
      host: hostname(),
      pid: process.pid,
      version: "test",
      slots: options.slots ?? 2,
      startedAt: new Date(),
      capabilities: options.capabilities ?? [TaskKind.COMPRESS],
    },
    heartbeatMs: 200,
    ackWaitMs: ACK_WAIT_MS,
    drainTimeoutMs: options.drainTimeoutMs ?? 10_000,
    retryDelayMs: 300,
    log,
  });
  cleanups.push(async () => {
    await worker.stop();
    client.close();
  });
  await worker.start();
  return worker;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 8_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(20);
  }
}

async function laneInfo() {
  return topology.jsm.consumers.info("IMGC_TASKS", "tasks-normal");
}

async function heartbeatOf(id: string): Promise<WorkerStatus | undefined> {
  const entry = await topology.workers.get(id);
  return entry && entry.operation === "PUT" ? decodeMessage(WorkerStatusSchema, entry.value) : undefined;
}

describe("worker", () => {
  it("claims a chunk, runs only its pending items, reports each, completes it and acks it", async () => {
    const coordinator = await startCoordinator({ pending: () => ["000001", "000002"] });
    const seen: string[] = [];
    const worker = await startWorker(coordinator.url, slowItems(10, seen));
    await publish(chunk("jobA", ["000000", "000001", "000002"]));

    await until(() => coordinator.completes.length === 1);
    expect(coordinator.claims[0]).toMatchObject({ workerId: worker.id, jobId: "jobA", index: 0, delivery: 1 });
    expect(seen).toEqual(["000001", "000002"]);
    expect(coordinator.reports.map((r) => [r.jobId, r.chunkIndex, r.result?.itemId])).toEqual([
      ["jobA", 0, "000001"],
      ["jobA", 0, "000002"],
    ]);
    expect(coordinator.completes[0]).toMatchObject({ jobId: "jobA", index: 0, released: false });
    await until(async () => {
      const info = await laneInfo();
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    await until(async () => (await heartbeatOf(worker.id))?.itemsDone === 2n);
  });

  it("acks a cancelled chunk without running or reporting anything", async () => {
    const coordinator = await startCoordinator({ cancelledOnClaim: () => true, pending: () => ["000000"] });
    const seen: string[] = [];
    await startWorker(coordinator.url, slowItems(10, seen));
    await publish(chunk("jobB", ["000000"]));
    await until(async () => coordinator.claims.length === 1 && (await laneInfo()).num_ack_pending === 0);
    expect(seen).toEqual([]);
    expect(coordinator.reports).toEqual([]);
    expect(coordinator.completes).toEqual([]);
  });

  it("acks a chunk with nothing pending (a redelivered copy) without completing it", async () => {
    const coordinator = await startCoordinator({ pending: () => [] });
    const seen: string[] = [];
    await startWorker(coordinator.url, slowItems(10, seen));
    await publish(chunk("jobI", ["000000"]));
    await until(async () => coordinator.claims.length === 1 && (await laneInfo()).num_ack_pending === 0);
    expect(seen).toEqual([]);
    expect(coordinator.completes).toEqual([]);
    expect((await laneInfo()).num_pending).toBe(0);
  });

  it("terminates a chunk the coordinator does not know, instead of redelivering it", async () => {
    const coordinator = await startCoordinator({ unknownChunk: () => true });
    const seen: string[] = [];
    await startWorker(coordinator.url, slowItems(10, seen));
    await publish(chunk("jobJ", ["000000"]));
    await until(async () => coordinator.claims.length === 1 && (await laneInfo()).num_ack_pending === 0);
    await sleep(500);
    expect(coordinator.claims).toHaveLength(1);
    expect(seen).toEqual([]);
  });

  it("terminates an undecodable chunk", async () => {
    const coordinator = await startCoordinator({});
    await startWorker(coordinator.url, slowItems(10));
    await nc.jetstream().publish(taskSubject("normal"), new TextEncoder().encode("{not json"));
    await until(async () => {
      const info = await laneInfo();
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    await sleep(ACK_WAIT_MS + 300);
    expect((await laneInfo()).num_redelivered).toBe(0);
    expect(coordinator.claims).toEqual([]);
  });

  it("aborts the running item when a report says the job was cancelled, and reports it CANCELLED", async () => {
    const coordinator = await startCoordinator({
      pending: () => ["000000", "000001", "000002"],
      cancelledOnReport: () => true,
    });
    const seen: string[] = [];
    // Reports go out while the next item runs: the answer to the first one (cancelled) arrives during the second,
    // which is aborted there and then (items take 3 s, a report a few ms); the third never starts.
    await startWorker(coordinator.url, slowItems(3_000, seen));
    await publish(chunk("jobC", ["000000", "000001", "000002"]));
    await until(() => seen.length === 2);
    const secondStarted = Date.now();
    await until(() => coordinator.completes.length === 1);
    expect(Date.now() - secondStarted).toBeLessThan(1_500);
    expect(seen).toEqual(["000000", "000001"]);
    expect(coordinator.reports.map((r) => [r.result?.itemId, r.result?.state, r.result?.errorCode])).toEqual([
      ["000000", ItemState.DONE, ErrorCode.UNSPECIFIED],
      ["000001", ItemState.FAILED, ErrorCode.CANCELLED],
    ]);
    // The second item's start rode with the first result; the third never started.
    expect(coordinator.started).toEqual(["000001"]);
    await until(async () => (await laneInfo()).num_ack_pending === 0);
  });

  it("stops a cancelled job's chunks mid-item on the cancel broadcast and frees their slots at once", async () => {
    const coordinator = await startCoordinator({
      pending: (r) => (r.jobId === "jobK" ? ["000000", "000001"] : ["000000"]),
    });
    const seen: string[] = [];
    // jobK's items would take a minute each; jobL's a moment. One slot: jobL can start only once jobK's is free.
    const items: ProcessItem = (c, item, signal) => slowItems(c.jobId === "jobK" ? 60_000 : 10, seen)(c, item, signal);
    const worker = await startWorker(coordinator.url, items, { slots: 1 });
    await publish(chunk("jobK", ["000000", "000001"]));
    await until(() => seen.length === 1);
    const cancel = (jobId: string) =>
      nc.publish(BROADCAST_SUBJECT, new TextEncoder().encode(JSON.stringify({ action: "cancel", jobId })));
    // Another job's cancel, and messages that are not a cancel, change nothing.
    cancel("jobOther");
    nc.publish(BROADCAST_SUBJECT, new TextEncoder().encode("{not json"));
    nc.publish(BROADCAST_SUBJECT, new TextEncoder().encode('{"action":"drain"}'));
    await sleep(300);
    expect(coordinator.completes).toEqual([]);
    expect(await heartbeatOf(worker.id)).toMatchObject({ draining: false });

    const cancelledAt = Date.now();
    cancel("jobK");
    await publish(chunk("jobL", ["000000"]));
    await until(() => coordinator.completes.some((c) => c.jobId === "jobL"));
    // The next job ran within about a second of the cancel, not after the minute jobK's item would have taken.
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    expect(seen).toEqual(["000000", "000000"]);
    expect(coordinator.reports.map((r) => [r.jobId, r.result?.itemId, r.result?.errorCode])).toEqual([
      ["jobK", "000000", ErrorCode.CANCELLED],
      ["jobL", "000000", ErrorCode.UNSPECIFIED],
    ]);
    expect(coordinator.completes.map((c) => c.jobId)).toEqual(["jobK", "jobL"]);
    // Both acked: a cancelled chunk is finished, not given back.
    await until(async () => {
      const info = await laneInfo();
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    expect((await laneInfo()).num_redelivered).toBe(0);
  });

  it("keeps a chunk longer than AckWait without redelivery, through in-progress acks", async () => {
    const coordinator = await startCoordinator({ pending: () => ["000000", "000001"] });
    await startWorker(coordinator.url, slowItems(ACK_WAIT_MS), { slots: 1 });
    await publish(chunk("jobD", ["000000", "000001"]));
    await until(() => coordinator.completes.length === 1, 10_000);
    expect(coordinator.claims.map((c) => c.delivery)).toEqual([1]);
    expect((await laneInfo()).num_redelivered).toBe(0);
  });

  it("naks a chunk when the coordinator stays unreachable, and the chunk comes back", async () => {
    const gone = await startFakeCoordinator({});
    const deadUrl = gone.url;
    await gone.stop();
    const seen: string[] = [];
    const lonely = await startWorker(deadUrl, slowItems(10, seen), { retryBudgetMs: 300, slots: 1 });
    await publish(chunk("jobE", ["000000"]));
    await until(async () => (await laneInfo()).num_redelivered > 0 || (await laneInfo()).delivered.consumer_seq >= 2);
    await lonely.stop();
    expect(seen).toEqual([]);

    const coordinator = await startCoordinator({ pending: () => ["000000"] });
    await startWorker(coordinator.url, slowItems(10, seen));
    await until(() => coordinator.completes.length === 1);
    expect(coordinator.claims[0]?.delivery).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual(["000000"]);
  });

  it("drains: stops pulling, finishes held chunks, deregisters, then settles", async () => {
    const coordinator = await startCoordinator({ pending: (r) => (r.jobId === "jobF" ? ["000000", "000001"] : []) });
    const seen: string[] = [];
    const worker = await startWorker(coordinator.url, slowItems(300, seen), { slots: 1 });
    await publish(chunk("jobF", ["000000", "000001"]));
    await until(() => seen.length === 1);
    await until(async () => (await heartbeatOf(worker.id))?.chunks.join() === "jobF.0");
    expect(await heartbeatOf(worker.id)).toMatchObject({ busy: 1, slots: 1, draining: false });

    const draining = worker.drain();
    await until(async () => (await heartbeatOf(worker.id))?.draining === true);
    await publish(chunk("jobG", ["000000"]));
    await draining;

    expect(seen).toEqual(["000000", "000001"]);
    expect(coordinator.completes).toEqual([expect.objectContaining({ jobId: "jobF", released: false })]);
    expect(coordinator.claims.map((c) => c.jobId)).toEqual(["jobF"]);
    expect(await heartbeatOf(worker.id)).toBeUndefined();
    const info = await laneInfo();
    expect(info.num_pending).toBe(1);
    await expect(worker.done).resolves.toBeUndefined();
  });

  it("drains when asked over imgc.control.<worker id>", async () => {
    const coordinator = await startCoordinator({});
    const worker = await startWorker(coordinator.url, slowItems(10));
    nc.publish(`imgc.control.${worker.id}`, new TextEncoder().encode('{"action":"drain"}'));
    await worker.done;
    expect(await heartbeatOf(worker.id)).toBeUndefined();
  });

  it("past the drain timeout, releases held chunks for immediate redelivery", async () => {
    const coordinator = await startCoordinator({ pending: () => ["000000"] });
    const seen: string[] = [];
    const worker = await startWorker(coordinator.url, slowItems(60_000, seen), { slots: 1, drainTimeoutMs: 300 });
    await publish(chunk("jobH", ["000000"]));
    await until(() => seen.length === 1);
    const started = Date.now();
    await worker.drain();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(coordinator.reports).toEqual([]);
    expect(coordinator.completes).toEqual([expect.objectContaining({ jobId: "jobH", released: true })]);

    // nak without delay: the next pull gets it at once, as its second delivery.
    const consumer = await nc.jetstream().consumers.get("IMGC_TASKS", "tasks-normal");
    const again = await consumer.next({ expires: 1_000 });
    expect(again?.info.redeliveryCount).toBe(2);
    again?.ack();
  });

  it("pulls a DETECT chunk only when it detects, and reports the objects the real model found", async () => {
    const coordinator = await startCoordinator({ pending: () => ["000000"] });
    const photo = readFileSync(new URL("../../../shared/corpus/photos/coffee.png", import.meta.url));
    const detectChunk = create(ChunkSchema, {
      ...chunk("jobD", ["000000"]),
      kind: TaskKind.DETECT,
      detection: create(DetectionOptionsSchema, { labels: ["cup"] }),
    });
    await nc.jetstream().publish(taskSubject("normal", TaskKind.DETECT), encodeMessage(ChunkSchema, detectChunk));
    const detectLane = () => topology.jsm.consumers.info("IMGC_TASKS", "detect-normal");

    // A compression worker leaves it alone: it never reads the detect consumers.
    const seen: string[] = [];
    const compressor = await startWorker(coordinator.url, slowItems(10, seen));
    await sleep(1_500);
    expect(seen).toEqual([]);
    expect(coordinator.claims).toEqual([]);
    expect((await detectLane()).num_pending).toBe(1);
    expect((await heartbeatOf(compressor.id))?.capabilities).toEqual([TaskKind.COMPRESS]);

    const detector = createEnginePool({ size: 1, log, task: "detect", execArgv: ["--import", "tsx"] });
    cleanups.push(() => detector.close());
    const store: ObjectStore = {
      get: async () => photo,
      put: () => Promise.reject(new Error("detection writes nothing")),
    };
    const processItem = createItemProcessor({
      store,
      detector,
      limits: { maxInputBytes: 64 << 20, maxPixels: 100_000_000, maxFrames: 500, timeoutMs: 30_000 },
      workerId: "detector-1",
      defaultBucket: "imgc",
      log,
    });
    const worker = await startWorker(coordinator.url, processItem, { capabilities: [TaskKind.DETECT] });
    await until(() => coordinator.completes.length === 1, 30_000);
    expect(coordinator.claims[0]).toMatchObject({ workerId: worker.id, jobId: "jobD" });
    const result = coordinator.reports[0]?.result;
    expect(result).toMatchObject({ itemId: "000000", state: ItemState.DONE, outputKey: "" });
    expect(result?.detection?.objects.map((o) => o.label)).toEqual(["cup"]);
    expect(result?.detection?.objects[0]?.score).toBeGreaterThanOrEqual(0.5);
    expect(result?.detection).toMatchObject({ sourceWidth: 600, sourceHeight: 400, workerId: "detector-1" });
    expect((await heartbeatOf(worker.id))?.capabilities).toEqual([TaskKind.DETECT]);
    await until(async () => (await detectLane()).num_ack_pending === 0);
    expect(seen).toEqual([]);
  });
});
