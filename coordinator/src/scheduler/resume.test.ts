import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { encodeMessage, RESULTS_BUCKET } from "@imgc/common";
import { ItemResultSchema, ItemState, JobSchema, JobState } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { describe, expect, it } from "vitest";
import { newJobId, resultKey } from "../ids.js";
import {
  endedJob,
  eventually,
  heartbeat,
  pullChunks,
  runChunk,
  startTestCoordinator,
  type TestCoordinator,
  type TestStack,
  testSettings,
  useTestStack,
} from "../testing/harness.js";
import { createMemoryStorage } from "../testing/memory-storage.js";
import { buildChunks } from "./chunking.js";

const storage = createMemoryStorage();
const options = { storage, settings: { ackWaitMs: 60_000 } };
let stack: TestStack;
let nc: NatsConnection;
let t: TestCoordinator;
useTestStack((started) => {
  stack = started;
  ({ nc, t } = started);
}, options);

async function restart(): Promise<void> {
  await t.coordinator.close();
  t = stack.t = await startTestCoordinator(nc, options);
}

async function submit(n: number) {
  const keys = Array.from({ length: n }, (_, i) => {
    const key = `uploads/default/r/${i}.jpg`;
    storage.put(key, 1000);
    return key;
  });
  const { job } = await t.jobs.submitJob({ sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })) });
  if (!job) throw new Error("no job");
  return job;
}

describe("restart", () => {
  it("resumes a job half done: a new coordinator on the same NATS completes it", async () => {
    const job = await submit(8);
    const pulled = await pullChunks(nc, 10);
    expect(pulled).toHaveLength(2);
    await runChunk(t, "w1", (pulled[0] as (typeof pulled)[0]).chunk);

    await restart();
    const resumed = (await t.jobs.getJob({ jobId: job.id })).job;
    expect(resumed?.state).toBe(JobState.RUNNING);
    expect(resumed?.counts).toMatchObject({ total: 8, done: 4, pending: 4 });

    await runChunk(t, "w1", (pulled[1] as (typeof pulled)[0]).chunk);
    const ended = await endedJob(t, job.id);
    expect(ended?.state).toBe(JobState.COMPLETED);
    expect(ended?.counts).toMatchObject({ total: 8, done: 8, failed: 0 });
    expect(ended?.bytesIn).toBe(8_000n);
  });

  it("re-derives counters from the results bucket (a crash between result and counters counts it once)", async () => {
    const job = await submit(4);
    const [p] = await pullChunks(nc, 1);
    if (!p) throw new Error("no chunk");
    const item = p.chunk.items[0]?.itemId ?? "";
    // The result reached KV, the job record never heard of it.
    const results = await nc.jetstream().views.kv(RESULTS_BUCKET);
    const result = create(ItemResultSchema, {
      itemId: item,
      state: ItemState.DONE,
      outputKey: `${p.chunk.outputPrefix}${item}.webp`,
      inputBytes: 1000n,
      outputBytes: 10n,
    });
    await results.create(resultKey(job.id, item), encodeMessage(ItemResultSchema, result));

    await restart();
    expect((await t.jobs.getJob({ jobId: job.id })).job?.counts).toMatchObject({ total: 4, done: 1 });
    // The worker reports it again after the restart: still counted once.
    const again = await t.cluster.reportItem({ workerId: "w1", jobId: job.id, chunkIndex: p.chunk.index, result });
    expect(again.accepted).toBe(false);
    await restart();
    expect((await t.jobs.getJob({ jobId: job.id })).job?.counts).toMatchObject({ total: 4, done: 1 });
  });

  it("publishes the chunks that never reached the stream", async () => {
    // A submit that died after writing its chunks and job record, before publishing: as SubmitJob leaves it.
    const job = create(JobSchema, {
      id: newJobId(),
      tenant: "default",
      state: JobState.QUEUED,
      createdAt: timestampNow(),
      counts: { total: 8, pending: 8 },
    });
    const items = Array.from({ length: 8 }, (_, i) => ({
      bucket: "imgc",
      key: `uploads/default/r/${i}.jpg`,
      size: 10,
      missing: false,
    }));
    const chunks = buildChunks(job, items, testSettings.chunk, "imgc");
    job.chunkCount = chunks.length;
    await t.coordinator.chunks.putAll(chunks);
    await t.coordinator.jobs.create(job);
    expect(await pullChunks(nc, 10)).toHaveLength(0);

    await restart();
    const published = await pullChunks(nc, 10);
    expect(published.map((p) => p.chunk.index).sort()).toEqual(chunks.map((c) => c.index));
    for (const p of published) await runChunk(t, "w1", p.chunk);
    expect((await endedJob(t, job.id)).state).toBe(JobState.COMPLETED);
  });

  it("republishes, after a restart, the chunks of a worker that died meanwhile", async () => {
    await heartbeat(nc, "w-gone");
    await eventually(async () => t.coordinator.membership.isLive("w-gone"));
    const job = await submit(4);
    const [held] = await pullChunks(nc, 1);
    if (!held) throw new Error("no chunk");
    await t.cluster.claimChunk({ workerId: "w-gone", jobId: job.id, index: held.chunk.index, delivery: 1 });
    const workers = await nc.jetstream().views.kv("imgc-workers");
    await workers.purge("w-gone");

    await restart();
    const seen: Awaited<ReturnType<typeof pullChunks>> = [];
    await eventually(async () => {
      seen.push(...(await pullChunks(nc, 5)));
      return seen.some((p) => p.chunk.index === held.chunk.index);
    });
    for (const p of seen) await runChunk(t, "w1", p.chunk);
    expect((await endedJob(t, job.id)).state).toBe(JobState.COMPLETED);
  });

  it("finishes a cancel interrupted by the crash", async () => {
    const job = await submit(4);
    const jobs = await nc.jetstream().views.kv("imgc-jobs");
    const entry = await jobs.get(job.id);
    const record = entry?.json<{ state: string }>();
    if (!entry || !record) throw new Error("no job record");
    record.state = "JOB_STATE_CANCELLED";
    await jobs.update(job.id, new TextEncoder().encode(JSON.stringify(record)), entry.revision);

    await restart();
    const ended = (await t.jobs.getJob({ jobId: job.id })).job;
    expect(ended?.state).toBe(JobState.CANCELLED);
    expect(ended?.counts).toMatchObject({ total: 4, failed: 4 });
    expect(ended?.finishedAt).toBeDefined();
  });
});
