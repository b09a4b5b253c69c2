import { Code, ConnectError } from "@connectrpc/connect";
import { BROADCAST_SUBJECT, controlSubject, encodeMessage, RESULTS_BUCKET } from "@imgc/common";
import { ErrorCode, ItemResultSchema, ItemState, JobState, Priority, TaskKind } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import type { CoordinatorSettings } from "../coordinator.js";
import { resultKey } from "../ids.js";
import {
  doneResult,
  endedJob,
  eventually,
  heartbeat,
  pullChunks,
  removeWorker,
  runChunk,
  startTestStack,
  type TestCoordinator,
  type TestStack,
} from "../testing/harness.js";

let stack: TestStack | undefined;
let nc: NatsConnection;
let t: TestCoordinator;

async function setup(settings: Partial<CoordinatorSettings> = {}) {
  stack = await startTestStack({ settings });
  ({ nc, t } = stack);
  return { nc, t };
}

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function submit(t: TestCoordinator, n: number, priority = Priority.UNSPECIFIED) {
  const keys = Array.from({ length: n }, (_, i) => {
    const key = `uploads/default/u/${i}.jpg`;
    t.storage.put(key, 1000);
    return key;
  });
  const { job } = await t.jobs.submitJob({
    sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })),
    priority,
  });
  if (!job) throw new Error("no job");
  return job;
}

const jobOf = async (t: TestCoordinator, jobId: string) => (await t.jobs.getJob({ jobId })).job;

describe("ReportItem", () => {
  it("counts a duplicate report once", async () => {
    const { nc, t } = await setup();
    const job = await submit(t, 2);
    const [first] = await pullChunks(nc, 1);
    if (!first) throw new Error("no chunk");
    const itemId = first.chunk.items[0]?.itemId ?? "";
    const claim = await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index: first.chunk.index, delivery: 1 });
    expect(claim.pendingItemIds).toContain(itemId);

    const report = {
      workerId: "w1",
      jobId: job.id,
      chunkIndex: first.chunk.index,
      result: doneResult(itemId, 1000, 300, first.chunk.outputPrefix),
    };
    expect((await t.cluster.reportItem(report)).accepted).toBe(true);
    expect((await t.cluster.reportItem(report)).accepted).toBe(false);
    expect(
      (
        await t.cluster.reportItem({
          ...report,
          workerId: "w2",
          result: doneResult(itemId, 1000, 100, first.chunk.outputPrefix),
        })
      ).accepted,
    ).toBe(false);

    const now = await jobOf(t, job.id);
    expect(now?.counts).toMatchObject({ total: 2, done: 1, failed: 0 });
    expect(now?.bytesIn).toBe(1000n);
    expect(now?.bytesOut).toBe(300n);
    // The redelivered chunk is claimed again: only the item without a result is pending.
    const again = await t.cluster.claimChunk({ workerId: "w2", jobId: job.id, index: first.chunk.index, delivery: 2 });
    expect(again.pendingItemIds).not.toContain(itemId);
  });

  it("counts a result whose write went through while its answer was lost (a NATS restart mid-report)", async () => {
    const { nc, t } = await setup();
    const job = await submit(t, 1);
    const [first] = await pullChunks(nc, 1);
    if (!first) throw new Error("no chunk");
    const itemId = first.chunk.items[0]?.itemId ?? "";
    await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index: first.chunk.index, delivery: 1 });
    // The first ReportItem's KV create reached the server; the coordinator never heard back, so did not count it.
    const kv = await nc.jetstream().views.kv(RESULTS_BUCKET);
    const stored = doneResult(itemId, 1000, 300, first.chunk.outputPrefix);
    await kv.create(resultKey(job.id, itemId), encodeMessage(ItemResultSchema, stored));

    // The worker's retry finds the key taken: not accepted, but the item is counted and the job ends.
    const retried = await t.cluster.reportItem({
      workerId: "w1",
      jobId: job.id,
      chunkIndex: first.chunk.index,
      result: doneResult(itemId, 1000, 300, first.chunk.outputPrefix),
    });
    expect(retried.accepted).toBe(false);
    const ended = await eventually(async () => {
      const now = await jobOf(t, job.id);
      return now?.state === JobState.COMPLETED ? now : null;
    });
    expect(ended.counts).toMatchObject({ total: 1, done: 1, failed: 0, pending: 0 });
    expect(ended.bytesOut).toBe(300n);
  });

  it("rejects results that are not terminal or name no item of the job", async () => {
    const { t } = await setup();
    const job = await submit(t, 1);
    const pending = doneResult("000000");
    pending.state = ItemState.RUNNING;
    const notTerminal = await t.cluster
      .reportItem({ workerId: "w1", jobId: job.id, chunkIndex: 0, result: pending })
      .catch((e: unknown) => ConnectError.from(e));
    expect((notTerminal as ConnectError).code).toBe(Code.InvalidArgument);
    const outside = await t.cluster
      .reportItem({ workerId: "w1", jobId: job.id, chunkIndex: 0, result: doneResult("000005") })
      .catch((e: unknown) => ConnectError.from(e));
    expect((outside as ConnectError).code).toBe(Code.InvalidArgument);
    const unknown = await t.cluster
      .reportItem({ workerId: "w1", jobId: "AAAAAAAAAAAAAAAAAAAA", chunkIndex: 0, result: doneResult("000000") })
      .catch((e: unknown) => ConnectError.from(e));
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
  });

  it("ends a job FAILED when every item failed", async () => {
    const { nc, t } = await setup();
    const job = await submit(t, 2);
    for (const p of await pullChunks(nc, 5)) {
      await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index: p.chunk.index, delivery: 1 });
      for (const item of p.chunk.items) {
        const result = doneResult(item.itemId);
        result.outputKey = "";
        result.state = ItemState.FAILED;
        result.errorCode = ErrorCode.CORRUPT_INPUT;
        await t.cluster.reportItem({ workerId: "w1", jobId: job.id, chunkIndex: p.chunk.index, result });
      }
    }
    const ended = await endedJob(t, job.id);
    expect(ended?.state).toBe(JobState.FAILED);
    expect(ended?.counts).toMatchObject({ total: 2, failed: 2 });
    expect(ended?.finishedAt).toBeDefined();
  });

  it("announces every item's end before the job's, however many results one batch carries", async () => {
    // A chunk of fast items comes back as one batch; batches of more than 64 results once went unannounced.
    const { nc, t } = await setup({ chunk: { maxItems: 200, maxBytes: 2 ** 30, minCount: 1 } });
    const job = await submit(t, 150);
    const [p] = await pullChunks(nc, 5);
    if (!p) throw new Error("no chunk");
    expect(p.chunk.items).toHaveLength(150);
    const { outputPrefix, index } = p.chunk;
    await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index, delivery: 1 });
    await t.cluster.reportItems({
      workerId: "w1",
      jobId: job.id,
      chunkIndex: index,
      startedItemIds: p.chunk.items.map((item) => item.itemId),
      results: p.chunk.items.map((item) => doneResult(item.itemId, 1000, 400, outputPrefix)),
      complete: true,
    });
    const ends: string[] = [];
    let final: JobState | undefined;
    for await (const { event } of t.jobs.watchJob({ jobId: job.id })) {
      if (event?.kind.case === "item" && event.kind.value.state === ItemState.DONE) ends.push(event.kind.value.itemId);
      if (event?.kind.case === "job" && event.kind.value.finishedAt) {
        final = event.kind.value.state;
        break;
      }
    }
    expect(final).toBe(JobState.COMPLETED);
    expect(new Set(ends).size).toBe(150);
    expect(ends).toHaveLength(150);
  });
});

describe("CancelJob", () => {
  it("cancels: pending items fail CANCELLED, claims and reports answer cancelled", async () => {
    const { nc, t } = await setup();
    const job = await submit(t, 8);
    const pulled = await pullChunks(nc, 10);
    expect(pulled).toHaveLength(2);
    const [a, b] = pulled as [(typeof pulled)[0], (typeof pulled)[0]];
    await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index: a.chunk.index, delivery: 1 });
    const first = a.chunk.items[0]?.itemId ?? "";
    await t.cluster.reportItem({
      workerId: "w1",
      jobId: job.id,
      chunkIndex: a.chunk.index,
      result: doneResult(first, 1000, 400, a.chunk.outputPrefix),
    });

    const cancelled = (await t.jobs.cancelJob({ jobId: job.id })).job;
    expect(cancelled?.state).toBe(JobState.CANCELLED);
    expect(cancelled?.counts).toMatchObject({ total: 8, done: 1, failed: 7, pending: 0, running: 0 });
    expect(cancelled?.finishedAt).toBeDefined();

    const late = await t.cluster.reportItem({
      workerId: "w1",
      jobId: job.id,
      chunkIndex: a.chunk.index,
      result: doneResult(a.chunk.items[1]?.itemId ?? "", 1000, 400, a.chunk.outputPrefix),
    });
    expect(late).toMatchObject({ accepted: false, cancelled: true });
    const claim = await t.cluster.claimChunk({ workerId: "w2", jobId: job.id, index: b.chunk.index, delivery: 1 });
    expect(claim).toMatchObject({ cancelled: true, pendingItemIds: [] });

    const results = (await t.jobs.getResults({ jobId: job.id })).results;
    expect(results.filter((r) => r.errorCode === ErrorCode.CANCELLED)).toHaveLength(7);
    expect(results.find((r) => r.itemId === first)?.state).toBe(ItemState.DONE);
    // Cancelling an ended job changes nothing.
    expect((await t.jobs.cancelJob({ jobId: job.id })).job?.counts?.done).toBe(1);
  });

  it("tells every worker at once, and removes the outputs that refused reports and redelivered chunks left", async () => {
    const { nc, t } = await setup();
    const job = await submit(t, 8);
    const pulled = await pullChunks(nc, 10);
    const [a, b] = pulled as [(typeof pulled)[0], (typeof pulled)[0]];
    const { outputPrefix } = a.chunk;
    const [done, late, crashed] = a.chunk.items.map((item) => item.itemId) as [string, string, string];
    const other = b.chunk.items[0]?.itemId ?? "";
    const output = (itemId: string) => `${outputPrefix}${itemId}.webp`;
    const stored = (itemId: string) => t.storage.objects.has(`imgc/${output(itemId)}`);
    await t.cluster.claimChunk({ workerId: "w1", jobId: job.id, index: a.chunk.index, delivery: 1 });
    await t.cluster.claimChunk({ workerId: "w2", jobId: job.id, index: b.chunk.index, delivery: 1 });
    t.storage.put(output(done), 400);
    await t.cluster.reportItem({
      workerId: "w1",
      jobId: job.id,
      chunkIndex: a.chunk.index,
      result: doneResult(done, 1000, 400, outputPrefix),
    });

    const broadcast = nc.subscribe(BROADCAST_SUBJECT, { max: 1 });
    await t.jobs.cancelJob({ jobId: job.id });
    for await (const msg of broadcast) expect(JSON.parse(msg.string())).toEqual({ action: "cancel", jobId: job.id });

    // Written while the cancel came, reported after it: refused, and its output removed. A retried report of the
    // item finished before the cancel keeps its output: its DONE result names it.
    t.storage.put(output(late), 400);
    const refused = await t.cluster.reportItems({
      workerId: "w1",
      jobId: job.id,
      chunkIndex: a.chunk.index,
      results: [doneResult(late, 1000, 400, outputPrefix), doneResult(done, 1000, 400, outputPrefix)],
      complete: true,
    });
    expect(refused).toMatchObject({ accepted: [false, false], cancelled: true });
    expect(stored(late)).toBe(false);
    expect(stored(done)).toBe(true);

    // A worker that died between writing and reporting: the chunk's next delivery, claimed "cancelled", sweeps it.
    t.storage.put(output(crashed), 400);
    t.storage.put(`${outputPrefix}${other}.avif`, 400);
    expect(
      await t.cluster.claimChunk({ workerId: "w3", jobId: job.id, index: a.chunk.index, delivery: 1 }),
    ).toMatchObject({
      cancelled: true,
    });
    expect(stored(crashed)).toBe(true);
    await t.cluster.claimChunk({ workerId: "w3", jobId: job.id, index: a.chunk.index, delivery: 2 });
    expect(stored(crashed)).toBe(false);
    expect(stored(done)).toBe(true);
    // Only that chunk's items: another chunk's key is its own delivery's to sweep.
    expect(t.storage.objects.has(`imgc/${outputPrefix}${other}.avif`)).toBe(true);
    await t.cluster.claimChunk({ workerId: "w3", jobId: job.id, index: b.chunk.index, delivery: 3 });
    expect(t.storage.objects.has(`imgc/${outputPrefix}${other}.avif`)).toBe(false);
    expect([...t.storage.objects.keys()].filter((key) => key.startsWith(`imgc/${outputPrefix}`))).toEqual([
      `imgc/${output(done)}`,
    ]);
  });
});

describe("dead workers", () => {
  it("republishes a timed-out worker's unfinished chunk at once, with only its unreported items pending", async () => {
    const { nc, t } = await setup({ ackWaitMs: 60_000, workerTimeoutMs: 1_000 });
    await heartbeat(nc, "w-dead");
    await eventually(async () => t.coordinator.membership.isLive("w-dead"));
    // 16 items over w-dead's 2 slots: 8 chunks (CHUNKS_PER_SLOT per slot) of 2 items.
    const job = await submit(t, 16);
    const pulled = await pullChunks(nc, 10);
    const held = pulled[0];
    if (!held) throw new Error("no chunk");
    await heartbeat(nc, "w-dead", [`${job.id}.${held.chunk.index}`]);
    const claim = await t.cluster.claimChunk({
      workerId: "w-dead",
      jobId: job.id,
      index: held.chunk.index,
      delivery: 1,
    });
    const [reported, ...rest] = claim.pendingItemIds;
    await t.cluster.reportItem({
      workerId: "w-dead",
      jobId: job.id,
      chunkIndex: held.chunk.index,
      result: doneResult(reported ?? "", 1000, 400, held.chunk.outputPrefix),
    });
    // No more heartbeats: gone after the timeout, well before AckWait (60 s) would redeliver.
    await eventually(async () => !t.coordinator.membership.isLive("w-dead"), 5_000);
    const again = await eventually(async () => {
      const [copy] = await pullChunks(nc, 1);
      return copy;
    }, 5_000);
    expect(again.chunk.jobId).toBe(job.id);
    expect(again.chunk.index).toBe(held.chunk.index);
    const retaken = await runChunk(t, "w2", again.chunk);
    expect(retaken).toEqual(rest);
    for (const p of pulled.slice(1)) await runChunk(t, "w2", p.chunk);
    expect((await endedJob(t, job.id)).state).toBe(JobState.COMPLETED);
  });

  it("republishes as soon as a worker's key is deleted without its chunk completing", async () => {
    const { nc, t } = await setup({ ackWaitMs: 60_000, workerTimeoutMs: 60_000 });
    await heartbeat(nc, "w-crash");
    await eventually(async () => t.coordinator.membership.isLive("w-crash"));
    const job = await submit(t, 2);
    const [held] = await pullChunks(nc, 1);
    if (!held) throw new Error("no chunk");
    await t.cluster.claimChunk({ workerId: "w-crash", jobId: job.id, index: held.chunk.index, delivery: 1 });
    await removeWorker(nc, "w-crash");
    const seen = new Set<number>();
    await eventually(async () => {
      for (const p of await pullChunks(nc, 5)) seen.add(p.chunk.index);
      return seen.has(held.chunk.index);
    }, 5_000);
  });

  it("republishes the chunk of a worker that claims without ever writing a heartbeat", async () => {
    const { nc, t } = await setup({ ackWaitMs: 60_000, workerTimeoutMs: 1_000 });
    const job = await submit(t, 2);
    const [held] = await pullChunks(nc, 1);
    if (!held) throw new Error("no chunk");
    await t.cluster.claimChunk({ workerId: "w-ghost", jobId: job.id, index: held.chunk.index, delivery: 1 });
    const seen = new Set<number>();
    await eventually(async () => {
      for (const p of await pullChunks(nc, 5)) seen.add(p.chunk.index);
      return seen.has(held.chunk.index);
    }, 5_000);
  });

  it("republishes what a worker held before it restarted under the same id, not what it claimed since", async () => {
    const { nc, t } = await setup({ ackWaitMs: 60_000, workerTimeoutMs: 60_000 });
    await heartbeat(nc, "w-fixed", [], 100);
    await eventually(async () => t.coordinator.membership.isLive("w-fixed"));
    const job = await submit(t, 2);
    const [before, after] = await pullChunks(nc, 2);
    if (!before || !after) throw new Error("expected two chunks");
    await t.cluster.claimChunk({ workerId: "w-fixed", jobId: job.id, index: before.chunk.index, delivery: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The new process: another pid, a later start; it claims the other chunk.
    await heartbeat(nc, "w-fixed", [], 200);
    await eventually(async () => t.coordinator.membership.get("w-fixed")?.pid === 200);
    await t.cluster.claimChunk({ workerId: "w-fixed", jobId: job.id, index: after.chunk.index, delivery: 1 });
    const republished = await eventually(async () => (await pullChunks(nc, 5)).map((p) => p.chunk.index), 5_000);
    expect(republished).toEqual([before.chunk.index]);
    expect(t.coordinator.assignments.heldBy("w-fixed")).toEqual([`${job.id}.${after.chunk.index}`]);
  });

  it("does not republish a chunk its worker completed", async () => {
    const { nc, t } = await setup({ ackWaitMs: 60_000, workerTimeoutMs: 60_000 });
    await heartbeat(nc, "w-ok");
    await eventually(async () => t.coordinator.membership.isLive("w-ok"));
    await submit(t, 1);
    const [held] = await pullChunks(nc, 1);
    if (!held) throw new Error("no chunk");
    await runChunk(t, "w-ok", held.chunk);
    held.ack();
    await removeWorker(nc, "w-ok");
    await eventually(async () => !t.coordinator.membership.isLive("w-ok"));
    expect(await pullChunks(nc, 1)).toHaveLength(0);
  });
});

describe("dead letters", () => {
  it("fails the items of a chunk delivered MaxDeliver times", async () => {
    const { nc, t } = await setup({ ackWaitMs: 1_000, maxDeliver: 2 });
    const job = await submit(t, 1);
    for (let delivery = 0; delivery < 2; delivery++) {
      const [p] = await eventually(async () => {
        const got = await pullChunks(nc, 1);
        return got.length > 0 ? got : null;
      });
      p?.nak();
    }
    // The server gives up when it would deliver a third time, that is while a worker waits for work.
    const failed = await eventually(async () => {
      for (const p of await pullChunks(nc, 1)) p.nak();
      const now = await jobOf(t, job.id);
      return now?.state === JobState.FAILED ? now : null;
    });
    expect(failed.counts).toMatchObject({ total: 1, failed: 1 });
    const [result] = (await t.jobs.getResults({ jobId: job.id })).results;
    expect(result?.errorCode).toBe(ErrorCode.INTERNAL);
    expect(result?.errorMessage).toBe("gave up after 2 deliveries");
  });
});

describe("operators", () => {
  it("lists workers and drains one over its control subject", async () => {
    const { nc, t } = await setup();
    await heartbeat(nc, "w1", ["job.0"]);
    await eventually(async () => t.coordinator.membership.isLive("w1"));
    expect((await t.cluster.listWorkers({})).workers.map((w) => w.id)).toEqual(["w1"]);
    const sub = nc.subscribe(controlSubject("w1"), { max: 1 });
    const received = (async () => {
      for await (const m of sub) return m.json<{ action: string }>();
    })();
    const drained = await t.cluster.drainWorker({ workerId: "w1" });
    expect(drained.worker?.id).toBe("w1");
    expect(await received).toEqual({ action: "drain" });
    const missing = await t.cluster.drainWorker({ workerId: "nobody" }).catch((e: unknown) => ConnectError.from(e));
    expect((missing as ConnectError).code).toBe(Code.NotFound);
  });

  it("reports queue depth per lane, high first, and publishes a job to its priority's lane", async () => {
    const { t } = await setup();
    const job = await submit(t, 3, Priority.HIGH);
    const stats = await t.cluster.getQueueStats({});
    // COMPRESS lanes first, then DETECT's: a job without tasks compresses only.
    expect(stats.lanes.map((l) => [l.kind, l.priority])).toEqual([
      [TaskKind.COMPRESS, Priority.HIGH],
      [TaskKind.COMPRESS, Priority.NORMAL],
      [TaskKind.COMPRESS, Priority.LOW],
      [TaskKind.DETECT, Priority.HIGH],
      [TaskKind.DETECT, Priority.NORMAL],
      [TaskKind.DETECT, Priority.LOW],
    ]);
    expect(stats.lanes[0]?.pending).toBe(BigInt(job.chunkCount));
    expect(stats.lanes.slice(1).map((l) => l.pending)).toEqual([0n, 0n, 0n, 0n, 0n]);
    expect(stats.activeJobs).toBe(1);
  });
});
