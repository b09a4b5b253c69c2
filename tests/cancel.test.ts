/**
 * Cancel really stops (issue 13): a job of slow items (a 3840×2160 photo to AVIF at effort 9 under a
 * SSIMULACRA 2 floor, tens of seconds each) is cancelled while its items run on the only worker. Its running
 * items stop within seconds (their engine children killed), a one-image job submitted right after runs at once,
 * and the job's output prefix holds no object that no DONE result names. One worker with two slots, one item
 * per chunk, so that both slots hold an item of the cancelled job. Then a worker that dies between writing an
 * output and reporting it: the chunk's next delivery, claimed after the cancel, removes the output.
 */

import { readFileSync } from "node:fs";
import { keys } from "@imgc/common";
import { ErrorCode, ImageFormat, ItemState, JobState } from "@imgc/proto";
import { expect, test } from "vitest";
import {
  allResults,
  corpusFiles,
  type Fixture,
  generateImages,
  listKeys,
  uploadFixtures,
  useCluster,
  waitForJob,
} from "./harness/index.js";

const cluster = useCluster({
  workers: 1,
  // The item timeout far above the items' time: only the cancel may stop them.
  workerEnv: { IMGC_WORKER_SLOTS: "2", IMGC_ITEM_TIMEOUT_MS: "300000" },
  env: { IMGC_CHUNK_MAX_ITEMS: "1" },
});

const big = corpusFiles("photos").find((file) => file.endsWith("gainmap-3840x2160.jpg"));
const slow = { format: ImageFormat.AVIF, effort: 9, target: { goal: { case: "minScore" as const, value: 90 } } };

/** The worker's chunks (`<job>.<index>`) as its last heartbeat listed them. */
async function chunksHeld(): Promise<string[]> {
  const { workers } = await cluster().cluster.listWorkers({});
  return workers.flatMap((worker) => worker.chunks);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test("a cancel stops the running items at once, frees the slots for the next job, and leaves no orphan output", async () => {
  if (!big) throw new Error("the corpus has no gainmap-3840x2160.jpg");
  const c = cluster();
  const body = readFileSync(big);
  const photos: Fixture[] = Array.from({ length: 4 }, (_, i) => ({ name: `big-${i}.jpg`, body }));
  const { uploads } = await uploadFixtures(c.storage, photos);
  const [small] = await generateImages(1, { minSide: 200, maxSide: 200, seed: 3 });
  const { uploads: smallUploads } = await uploadFixtures(c.storage, [small as Fixture]);

  const { job } = await c.jobs.submitJob({
    sources: uploads.map((u) => ({ kind: { case: "uploadKey", value: u.key } })),
    options: slow,
  });
  const jobId = job?.id ?? "";
  const ofJob = (held: string[]) => held.filter((chunk) => chunk.startsWith(`${jobId}.`));
  // Both slots compress an item of the job, and have for a while.
  await until(async () => ofJob(await chunksHeld()).length === 2, 60_000, "both slots busy with the job");
  await new Promise((resolve) => setTimeout(resolve, 2_000));

  const cancelledAt = Date.now();
  const cancelled = (await c.jobs.cancelJob({ jobId })).job;
  expect(cancelled?.state).toBe(JobState.CANCELLED);
  const { job: next } = await c.jobs.submitJob({
    sources: smallUploads.map((u) => ({ kind: { case: "uploadKey", value: u.key } })),
    options: { format: ImageFormat.WEBP, target: { goal: { case: "quality", value: 75 } } },
  });
  const finished = await waitForJob(c.jobs, next?.id ?? "", { timeoutMs: 120_000, intervalMs: 100 });
  const nextDoneMs = Date.now() - cancelledAt;
  expect(finished.state).toBe(JobState.COMPLETED);
  await until(async () => ofJob(await chunksHeld()).length === 0, 120_000, "the cancelled job's chunks gone");
  const freedMs = Date.now() - cancelledAt;
  console.info(
    `cancel: the next job finished ${nextDoneMs} ms after the cancel; the slots were free after ${freedMs} ms`,
  );
  // Before, both took about a minute: the running items ran to their end.
  expect(nextDoneMs).toBeLessThan(10_000);
  // The heartbeat that says so comes up to a second (IMGC_HEARTBEAT_MS) after the slots are free.
  expect(freedMs).toBeLessThan(10_000);

  const results = await allResults(c.jobs, jobId);
  expect(results).toHaveLength(4);
  expect(results.filter((r) => r.state === ItemState.PENDING || r.state === ItemState.RUNNING)).toEqual([]);
  const cancelledItems = results.filter((r) => r.errorCode === ErrorCode.CANCELLED);
  expect(cancelledItems.length).toBeGreaterThanOrEqual(2);
  const worker = c.workers[0];
  expect(worker?.logs().some((line) => line.includes("job cancelled; stopping its chunks"))).toBe(true);

  // No output that no result names: not now, and not once everything the worker had in hand has settled.
  const named = new Set(
    results.filter((r) => r.state === ItemState.DONE || r.state === ItemState.KEPT_ORIGINAL).map((r) => r.outputKey),
  );
  const prefix = keys.outputPrefix("default", jobId);
  expect((await listKeys(c.storage, prefix)).filter((key) => !named.has(key))).toEqual([]);
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect((await listKeys(c.storage, prefix)).filter((key) => !named.has(key))).toEqual([]);
}, 240_000);

test("a worker that died between writing an output and reporting it leaves no orphan: the next delivery's claim sweeps it", async () => {
  const c = cluster();
  const body = readFileSync(big as string);
  const { uploads } = await uploadFixtures(
    c.storage,
    Array.from({ length: 2 }, (_, i) => ({ name: `big-${i}.jpg`, body })),
  );
  const { job } = await c.jobs.submitJob({
    sources: uploads.map((u) => ({ kind: { case: "uploadKey", value: u.key } })),
    options: slow,
  });
  const jobId = job?.id ?? "";
  await until(
    async () => (await chunksHeld()).filter((chunk) => chunk.startsWith(`${jobId}.`)).length === 2,
    60_000,
    "both items running",
  );
  // What the worker would have written just before it died, and never reported.
  const prefix = keys.outputPrefix("default", jobId);
  const written = ["000000", "000001"].map((itemId) => `${prefix}${itemId}.avif`);
  for (const key of written) await c.storage.putBuffer(key, Buffer.from("an output nobody will name"), "image/avif");
  const victim = c.workers.find((worker) => worker.running());
  if (!victim) throw new Error("no worker running");
  await victim.kill("SIGKILL");
  expect((await c.jobs.cancelJob({ jobId })).job?.state).toBe(JobState.CANCELLED);
  expect(await listKeys(c.storage, prefix)).toEqual(written);

  // Its chunks come back after AckWait (no republish: the job is cancelled); the worker that claims them acks
  // them, and the coordinator removes what no result names first.
  await c.addWorker();
  await until(async () => (await listKeys(c.storage, prefix)).length === 0, 60_000, "the orphans removed");
  const results = await allResults(c.jobs, jobId);
  expect(results.map((r) => r.errorCode)).toEqual([ErrorCode.CANCELLED, ErrorCode.CANCELLED]);
}, 180_000);
