import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeMessage } from "@imgc/common";
import { type Chunk, ErrorCode, type ItemResult, ItemResultSchema, ItemState, JobState, TaskKind } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../../scripts/lib/test-nats.js";
import { itemId } from "../ids.js";
import { PARTS_BUCKET } from "../jobs/part-store.js";
import {
  doneResult,
  endedJob,
  eventually,
  heartbeat,
  pullChunks,
  startTestCoordinator,
  type TestCoordinator,
} from "../testing/harness.js";
import { createMemoryStorage } from "../testing/memory-storage.js";

let nats: TestNats;
let nc: NatsConnection;
const storage = createMemoryStorage();
let t: TestCoordinator;
const settings = { ackWaitMs: 60_000, workerTimeoutMs: 60_000 };

beforeEach(async () => {
  nats = await startTestNats();
  nc = await nats.connect();
  t = await startTestCoordinator(nc, { storage, settings });
});

afterEach(async () => {
  await t.coordinator.close();
  await nc.close();
  await nats.stop();
});

const BOTH = [TaskKind.COMPRESS, TaskKind.DETECT];
const I0 = itemId(0);
const I1 = itemId(1);

async function submit(n: number, tasks: TaskKind[]) {
  const keys = Array.from({ length: n }, (_, i) => {
    const key = `uploads/default/k/${i}.jpg`;
    storage.put(key, 1000);
    return key;
  });
  const { job } = await t.jobs.submitJob({
    sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })),
    tasks,
    detection: { minScore: 0.3 },
  });
  if (!job) throw new Error("no job");
  return job;
}

/** Every chunk of a kind on the normal lane, claimed by `workerId`. */
async function claimAll(kind: TaskKind, workerId: string, count: number): Promise<Map<string, Chunk>> {
  const byItem = new Map<string, Chunk>();
  const pulled = await eventually(async () => {
    const batch = await pullChunks(nc, count, "normal", kind);
    return batch.length > 0 ? batch : null;
  });
  for (const { chunk } of pulled) {
    expect(chunk.kind).toBe(kind);
    await t.cluster.claimChunk({ workerId, jobId: chunk.jobId, index: chunk.index, delivery: 1 });
    for (const item of chunk.items) byItem.set(item.itemId, chunk);
  }
  return byItem;
}

/** A job of `n` items with both tasks, every compression chunk claimed by w1 and every detection chunk by d1. */
async function submitClaimed(n: number) {
  const job = await submit(n, BOTH);
  const compress = await claimAll(TaskKind.COMPRESS, "w1", 10);
  const detect = await claimAll(TaskKind.DETECT, "d1", 10);
  return { job, compress, detect };
}

function compressed(chunk: Chunk, itemId: string): ItemResult {
  const result = doneResult(itemId, 1000, 400, chunk.outputPrefix);
  result.width = 50;
  result.height = 100;
  return result;
}

function detected(itemId: string, label = "cup"): ItemResult {
  return create(ItemResultSchema, {
    itemId,
    state: ItemState.DONE,
    detection: {
      objects: [{ label, score: 0.9, sourceBox: { x: 10, y: 20, width: 30, height: 40 } }],
      sourceWidth: 100,
      sourceHeight: 200,
      model: "test",
      frames: 1,
    },
  });
}

async function collectKeys(keys: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of keys) out.push(key);
  return out;
}

const failure = (itemId: string, errorCode: ErrorCode, errorMessage: string) =>
  create(ItemResultSchema, { itemId, state: ItemState.FAILED, errorCode, errorMessage });

async function report(workerId: string, chunk: Chunk, result: ItemResult) {
  return t.cluster.reportItem({ workerId, jobId: chunk.jobId, chunkIndex: chunk.index, result });
}

async function resultOf(jobId: string, itemId: string) {
  const { results } = await t.jobs.getResults({ jobId });
  return results.find((result) => result.itemId === itemId);
}

describe("a job with both tasks", () => {
  it("announces each task's start: a detection's RUNNING event names its worker in an empty detection", async () => {
    const { job } = await submitClaimed(2);
    const starts: ItemResult[] = [];
    const abort = new AbortController();
    for await (const { event } of t.jobs.watchJob({ jobId: job.id }, { signal: abort.signal })) {
      if (event?.kind.case === "item" && event.kind.value.state === ItemState.RUNNING) starts.push(event.kind.value);
      // Each claim announces its first item: one chunk of each kind per item here.
      if (starts.length === 4) break;
    }
    abort.abort();
    const compressing = starts.filter((start) => start.detection === undefined);
    const detecting = starts.filter((start) => start.detection !== undefined);
    expect(compressing.map((start) => start.workerId)).toEqual(["w1", "w1"]);
    expect(detecting.map((start) => start.workerId)).toEqual(["d1", "d1"]);
    expect(detecting.map((start) => start.detection?.workerId)).toEqual(["d1", "d1"]);
    expect(detecting.every((start) => start.detection?.objects.length === 0)).toBe(true);
    expect(new Set(detecting.map((start) => start.itemId))).toEqual(new Set([I0, I1]));
  });

  it("ends an item only when both have reported, in either order, with the output and the objects", async () => {
    const { job, compress, detect } = await submitClaimed(2);
    expect(job.tasks).toEqual(BOTH);
    expect(job.detection?.minScore).toBe(0.3);
    expect([...compress.keys()].sort()).toEqual([I0, I1]);
    expect([...detect.keys()].sort()).toEqual([I0, I1]);
    const c0 = compress.get(I0) as Chunk;
    const c1 = compress.get(I1) as Chunk;
    const d0 = detect.get(I0) as Chunk;
    const d1 = detect.get(I1) as Chunk;

    // Item 0: compression first. Item 1: detection first.
    expect((await report("w1", c0, compressed(c0, I0))).accepted).toBe(true);
    expect((await report("d1", d1, detected(I1, "person"))).accepted).toBe(true);
    expect((await resultOf(job.id, I0))?.state).not.toBe(ItemState.DONE);
    expect((await resultOf(job.id, I1))?.state).not.toBe(ItemState.DONE);
    expect((await t.jobs.getJob({ jobId: job.id })).job?.counts?.done).toBe(0);

    expect((await report("d1", d0, detected(I0))).accepted).toBe(true);
    expect((await report("w1", c1, compressed(c1, I1))).accepted).toBe(true);

    const ended = await endedJob(t, job.id);
    expect(ended.state).toBe(JobState.COMPLETED);
    expect(ended.counts?.done).toBe(2);
    for (const [itemId, label] of [
      [I0, "cup"],
      [I1, "person"],
    ] as const) {
      const result = await resultOf(job.id, itemId);
      expect(result?.state).toBe(ItemState.DONE);
      expect(result?.outputKey).toMatch(new RegExp(`/${itemId}\\.webp$`));
      expect(result?.workerId).toBe("w1");
      expect(result?.detection?.workerId).toBe("d1");
      const [object] = result?.detection?.objects ?? [];
      expect(object?.label).toBe(label);
      expect(object?.sourceBox).toMatchObject({ x: 10, y: 20, width: 30, height: 40 });
      expect(object?.box).toMatchObject({ x: 5, y: 10, width: 15, height: 20 });
    }
    // The parts are merged into the results: once the job has ended they go.
    const parts = await nc.jetstream().views.kv(PARTS_BUCKET);
    await eventually(async () => (await parts.keys(`${job.id}.>`).then(collectKeys)).length === 0);
  });

  it("fails an item when either task failed, keeping what the other produced", async () => {
    const { job, compress, detect } = await submitClaimed(2);
    const c0 = compress.get(I0) as Chunk;
    const c1 = compress.get(I1) as Chunk;
    await report("w1", c0, failure(I0, ErrorCode.CORRUPT_INPUT, "not an image"));
    await report("d1", detect.get(I0) as Chunk, detected(I0));
    await report("w1", c1, compressed(c1, I1));
    await report("d1", detect.get(I1) as Chunk, failure(I1, ErrorCode.TIMEOUT, "detection took too long"));

    const ended = await endedJob(t, job.id);
    expect(ended.counts).toMatchObject({ done: 0, failed: 2 });
    const first = await resultOf(job.id, I0);
    expect(first).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.CORRUPT_INPUT });
    expect(first?.detection?.objects[0]?.label).toBe("cup");
    expect(first?.detection?.objects[0]?.box).toBeUndefined();
    const second = await resultOf(job.id, I1);
    expect(second).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.TIMEOUT });
    expect(second?.outputKey).toMatch(new RegExp(`/${I1}\\.webp$`));
  });

  it("counts a task's duplicate report once, before and after the item ended", async () => {
    const { job, compress, detect } = await submitClaimed(1);
    const c0 = compress.get(I0) as Chunk;
    const d0 = detect.get(I0) as Chunk;
    expect((await report("d1", d0, detected(I0))).accepted).toBe(true);
    expect((await report("d1", d0, detected(I0, "person"))).accepted).toBe(false);
    // A redelivered detection chunk has nothing left to detect; the compression chunk still has its item.
    const again = await t.cluster.claimChunk({ workerId: "d1", jobId: job.id, index: d0.index, delivery: 2 });
    expect(again.pendingItemIds).toEqual([]);
    const claim = await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index: c0.index, delivery: 2 });
    expect(claim.pendingItemIds).toEqual([I0]);
    expect((await report("w1", c0, compressed(c0, I0))).accepted).toBe(true);
    expect((await report("w1", c0, compressed(c0, I0))).accepted).toBe(false);
    const ended = await endedJob(t, job.id);
    expect(ended.counts).toMatchObject({ total: 1, done: 1, failed: 0 });
    expect((await resultOf(job.id, I0))?.detection?.objects.map((o) => o.label)).toEqual(["cup"]);
  });

  it("merges a part reported under the previous leader with one reported under the next", async () => {
    await heartbeat(nc, "w1", [], 1, [TaskKind.COMPRESS]);
    await heartbeat(nc, "d1", [], 1, [TaskKind.DETECT]);
    const { job, compress, detect } = await submitClaimed(2);
    const c0 = compress.get(I0) as Chunk;
    const c1 = compress.get(I1) as Chunk;
    await report("w1", c0, compressed(c0, I0));
    await report("w1", c1, compressed(c1, I1));
    // A detection part written to KV by a leader that died before merging it into the item's result.
    const parts = await nc.jetstream().views.kv(PARTS_BUCKET);
    await parts.create(`${job.id}.${I1}.detect`, encodeMessage(ItemResultSchema, detected(I1, "person")));

    await t.coordinator.close();
    t = await startTestCoordinator(nc, { storage, settings });
    // The new leader merged the interrupted item on taking over...
    await eventually(async () => (await resultOf(job.id, I1))?.state === ItemState.DONE);
    expect((await resultOf(job.id, I1))?.detection?.objects[0]?.box).toMatchObject({ x: 5, y: 10 });
    // ...and merges the part the old leader recorded with one reported to it now.
    expect((await report("d1", detect.get(I0) as Chunk, detected(I0))).accepted).toBe(true);
    const ended = await endedJob(t, job.id);
    expect(ended.counts).toMatchObject({ done: 2, failed: 0 });
    expect((await resultOf(job.id, I0))?.outputKey).toMatch(new RegExp(`/${I0}\\.webp$`));
    expect((await resultOf(job.id, I0))?.detection?.objects[0]?.label).toBe("cup");
  });
});

describe("a DETECT-only job", () => {
  it("waits with a notice while no live worker can detect, clears it when one comes, and ends with detections", async () => {
    await heartbeat(nc, "w1", [], 1, []);
    await eventually(async () => t.coordinator.membership.isLive("w1"));
    const job = await submit(2, [TaskKind.DETECT]);
    expect(job.notice).toBe("Waiting for a worker that can detect objects: none is live");
    expect(await pullChunks(nc, 10, "normal", TaskKind.COMPRESS)).toEqual([]);

    await heartbeat(nc, "d1", [], 1, [TaskKind.DETECT]);
    await eventually(async () => (await t.jobs.getJob({ jobId: job.id })).job?.notice === "", 5_000);

    const detect = await claimAll(TaskKind.DETECT, "d1", 10);
    const d0 = detect.get(I0) as Chunk;
    const sneaky = detected(I0);
    sneaky.outputKey = `${d0.outputPrefix}${I0}.webp`;
    expect((await report("d1", d0, sneaky)).accepted).toBe(true);
    const kept = create(ItemResultSchema, { ...detected(I1), state: ItemState.KEPT_ORIGINAL });
    const refused = await report("d1", detect.get(I1) as Chunk, kept).catch((err: unknown) => err);
    expect(ConnectError.from(refused).code).toBe(Code.InvalidArgument);
    expect(ConnectError.from(refused).rawMessage).toBe("result.state: expected DONE or FAILED for a detection");
    const bare = create(ItemResultSchema, { itemId: I1, state: ItemState.DONE });
    const missing = await report("d1", detect.get(I1) as Chunk, bare).catch((err: unknown) => err);
    expect(ConnectError.from(missing).rawMessage).toBe("result.detection: required for a DONE detection");
    const crowded = detected(I1);
    crowded.detection?.objects.push(
      ...Array.from({ length: 100 }, () => crowded.detection?.objects[0]).filter((o) => o !== undefined),
    );
    const tooMany = await report("d1", detect.get(I1) as Chunk, crowded).catch((err: unknown) => err);
    expect(ConnectError.from(tooMany).rawMessage).toBe(
      "result.detection.objects: expected at most 100 but received 101",
    );
    await report("d1", detect.get(I1) as Chunk, detected(I1, "motorcycle"));

    const ended = await endedJob(t, job.id);
    expect(ended.state).toBe(JobState.COMPLETED);
    expect(ended.notice).toBe("");
    const { results } = await t.jobs.getResults({ jobId: job.id });
    expect(results.map((r) => [r.state, r.outputKey, r.detection?.objects[0]?.label])).toEqual([
      [ItemState.DONE, "", "cup"],
      [ItemState.DONE, "", "motorcycle"],
    ]);
  });

  it("shows the notice of a job whose kind loses its last worker", async () => {
    await heartbeat(nc, "d1", [], 1, [TaskKind.DETECT]);
    await eventually(async () => t.coordinator.membership.isLive("d1"));
    const job = await submit(1, BOTH);
    expect(job.notice).toBe("Waiting for a worker that can compress images: none is live");
  });
});

describe("queue stats per kind", () => {
  it("reports each kind's lanes, workers, slots and backlog, and /backlog per kind", async () => {
    await heartbeat(nc, "w1", [], 1, [TaskKind.COMPRESS]);
    await heartbeat(nc, "both", [], 1, [TaskKind.COMPRESS, TaskKind.DETECT]);
    await eventually(async () => t.coordinator.membership.isLive("w1") && t.coordinator.membership.isLive("both"));
    const job = await submit(3, BOTH);
    const stats = await t.cluster.getQueueStats({});
    expect(stats.lanes.map((lane) => lane.kind)).toEqual([
      TaskKind.COMPRESS,
      TaskKind.COMPRESS,
      TaskKind.COMPRESS,
      TaskKind.DETECT,
      TaskKind.DETECT,
      TaskKind.DETECT,
    ]);
    const perKind = job.chunkCount / 2;
    expect(stats.kinds.map((k) => [k.kind, k.workers, k.slots, Number(k.backlogChunks)])).toEqual([
      [TaskKind.COMPRESS, 2, 4, perKind],
      [TaskKind.DETECT, 1, 2, perKind],
    ]);
    const detectBacklog = await t.coordinator.backlog(TaskKind.DETECT);
    expect(detectBacklog.chunks).toBe(perKind);
    const all = await t.coordinator.backlog();
    expect(all.chunks).toBe(job.chunkCount);
    expect(all.kinds).toEqual({ compress: perKind, detect: perKind });
  });
});
