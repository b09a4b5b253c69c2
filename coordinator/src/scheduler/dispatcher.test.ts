import { create } from "@bufbuild/protobuf";
import { ChunkSchema } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { MIN_DISPATCH_DEPTH } from "../coordinator.js";
import { pullChunks, startTestStack, type TestCoordinator, type TestStack, tenantHeader } from "../testing/harness.js";
import { createFairQueue } from "./dispatcher.js";

const chunk = (tenant: string, jobId: string, index: number) => create(ChunkSchema, { tenant, jobId, index });
const names = (list: { jobId: string; index: number }[]) => list.map((c) => `${c.jobId}.${c.index}`);

describe("fair queue", () => {
  it("takes the tenants in turn, each tenant's chunks in the order they came", () => {
    const queue = createFairQueue();
    queue.push([chunk("a", "a1", 0), chunk("a", "a1", 1), chunk("a", "a2", 0), chunk("a", "a2", 1)]);
    queue.push([chunk("b", "b1", 0), chunk("b", "b1", 1)]);
    const first = [queue.shift(), queue.shift(), queue.shift()];
    // A newcomer joins the rotation at its end.
    queue.push([chunk("c", "c1", 0)]);
    const rest = [];
    while (queue.size > 0) rest.push(queue.shift());
    expect(names([...first, ...rest] as { jobId: string; index: number }[])).toEqual([
      "a1.0",
      "b1.0",
      "a1.1",
      "b1.1",
      "c1.0",
      "a2.0",
      "a2.1",
    ]);
    expect(queue.shift()).toBeUndefined();
  });

  it("drops a deleted job's chunks, and the rotation goes on with the tenant whose turn it was", () => {
    const queue = createFairQueue();
    queue.push([chunk("a", "a1", 0), chunk("a", "a1", 1)]);
    queue.push([chunk("b", "b1", 0), chunk("b", "b2", 0)]);
    queue.push([chunk("c", "c1", 0)]);
    expect(names([queue.shift()] as { jobId: string; index: number }[])).toEqual(["a1.0"]);
    // b's turn next; a leaves the rotation entirely.
    expect(queue.drop("a1")).toBe(1);
    expect(queue.drop("b1")).toBe(1);
    expect(queue.size).toBe(2);
    const rest = [];
    while (queue.size > 0) rest.push(queue.shift());
    expect(names(rest as { jobId: string; index: number }[])).toEqual(["b2.0", "c1.0"]);
  });
});

describe("release onto the stream", () => {
  let stack: TestStack | undefined;
  let nc: NatsConnection | undefined;
  let t: TestCoordinator | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function submit(tenant: string, items: number) {
    const keys = Array.from({ length: items }, (_, i) => {
      const key = `uploads/${tenant}/u/${i}.jpg`;
      t?.storage.put(key, 1000);
      return key;
    });
    const { job } = await (t as TestCoordinator).jobs.submitJob(
      { sources: keys.map((key) => ({ kind: { case: "uploadKey", value: key } })) },
      tenantHeader(tenant),
    );
    if (!job) throw new Error("no job");
    return job;
  }

  it("a tenant that comes behind another's backlog is served within a lane's depth, not after the backlog", async () => {
    stack = await startTestStack();
    ({ nc, t } = stack);
    const big = await submit("acme", 80); // 20 chunks of 4
    const small = await submit("tiny", 8); // 2 chunks
    expect(big.chunkCount).toBeGreaterThan(16);

    // The lane holds a few chunks ready (no worker is live: the minimum depth), all the first tenant's.
    const lane = await nc.jetstream().consumers.get("IMGC_TASKS", "tasks-normal");
    expect((await lane.info()).num_pending).toBe(MIN_DISPATCH_DEPTH);
    const first = await pullChunks(nc, MIN_DISPATCH_DEPTH);
    expect(new Set(first.map((c) => c.chunk.tenant))).toEqual(new Set(["acme"]));
    // As those are taken, the next release takes the tenants in turn: the small job is not left for last. Waits
    // for that release (the lane full again) rather than for a guess at how long it takes.
    while ((await lane.info()).num_pending < MIN_DISPATCH_DEPTH)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await pullChunks(nc, MIN_DISPATCH_DEPTH);
    expect(second.filter((c) => c.chunk.tenant === "tiny").map((c) => c.chunk.jobId)).toEqual([small.id, small.id]);
    const stats = await t.cluster.getQueueStats({});
    // Still waiting for their turn: counted as pending.
    const normal = stats.lanes.find((lane) => lane.pending > 0n);
    expect(Number(normal?.pending ?? 0n)).toBe(big.chunkCount + small.chunkCount - first.length - second.length);
  });

  it("a deleted job's chunks still waiting for their turn are never published", async () => {
    stack = await startTestStack();
    ({ nc, t } = stack);
    const job = await submit("acme", 48); // 12 chunks of 4: the lane takes MIN_DISPATCH_DEPTH, 4 wait
    expect(job.chunkCount - MIN_DISPATCH_DEPTH).toBeGreaterThan(0);
    await t.jobs.deleteJob({ jobId: job.id }, tenantHeader("acme"));
    // The chunks on the stream already are taken and dropped by workers (the job is gone); nothing follows them.
    const taken = await pullChunks(nc, MIN_DISPATCH_DEPTH);
    expect(taken).toHaveLength(MIN_DISPATCH_DEPTH);
    for (const p of taken) p.ack();
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // past two pump intervals
    expect(await pullChunks(nc, 100)).toHaveLength(0);
    expect((await t.cluster.getQueueStats({})).lanes.every((lane) => lane.pending === 0n)).toBe(true);
  });
});
