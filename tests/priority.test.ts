/**
 * Priority jumps the queue, end to end: a high-priority job submitted behind a large low-priority backlog runs
 * next, through the gateway, the coordinator, NATS and a real worker. One worker with one slot, so that the
 * queue (not spare capacity) decides what runs, and small chunks, so that "next" is measured in items.
 */
import { Priority } from "@imgc/proto";
import { expect, test } from "vitest";
import { ended, figure, smallImages, submitBatch, uploadBatch } from "./faults/fault-kit.js";
import { useCluster } from "./harness/index.js";

const CHUNK_ITEMS = 4;
const BACKLOG = 240;
const URGENT = 8;

const cluster = useCluster({
  workers: 1,
  env: { IMGC_CHUNK_MAX_ITEMS: String(CHUNK_ITEMS), IMGC_CACHE_TTL_MS: "0" },
  workerEnv: { IMGC_WORKER_SLOTS: "1" },
});

test("a high-priority job submitted behind a large low-priority backlog runs next, and finishes long before it", async () => {
  const c = cluster();
  const images = await smallImages();
  const backlogBatch = await uploadBatch(c, images.slice(0, BACKLOG));
  const urgentBatch = await uploadBatch(c, images.slice(BACKLOG, BACKLOG + URGENT));

  const backlog = await submitBatch(c.jobs, backlogBatch, { priority: Priority.LOW, label: "backlog" });
  // The backlog is under way: the worker is busy with it, and the rest of it is queued.
  let backlogAtSubmit = 0;
  while (backlogAtSubmit === 0) {
    backlogAtSubmit = ended((await c.jobs.getJob({ jobId: backlog.id })).job);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const submittedAt = Date.now();
  const urgent = await submitBatch(c.jobs, urgentBatch, { priority: Priority.HIGH, label: "urgent" });

  // Both followed in one poll, so the backlog's count is read the moment the urgent job is seen to end.
  let backlogAtEnd = 0;
  for (;;) {
    const [u, b] = await Promise.all([c.jobs.getJob({ jobId: urgent.id }), c.jobs.getJob({ jobId: backlog.id })]);
    backlogAtEnd = ended(b.job);
    if (u.job?.finishedAt) {
      expect(ended(u.job)).toBe(URGENT);
      expect(b.job?.finishedAt).toBeUndefined();
      break;
    }
    if (b.job?.finishedAt) throw new Error("the backlog ended before the urgent job");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const urgentMs = Date.now() - submittedAt;

  // While the urgent job ran, the single slot finished at most the backlog chunk it held when the urgent job
  // came, one more taken between that count and the submit, and one taken after the urgent job's end before
  // this poll saw it: three chunks, whatever the machine's speed. Waiting for the backlog would be 200 more.
  const advance = backlogAtEnd - backlogAtSubmit;
  expect(advance).toBeLessThanOrEqual(3 * CHUNK_ITEMS);
  expect(BACKLOG - backlogAtEnd).toBeGreaterThan(BACKLOG / 2);

  await c.jobs.cancelJob({ jobId: backlog.id });
  figure("priority", {
    backlog: BACKLOG,
    urgent: URGENT,
    chunkItems: CHUNK_ITEMS,
    backlogEndedWhenUrgentSubmitted: backlogAtSubmit,
    backlogEndedWhenUrgentFinished: backlogAtEnd,
    urgentJobMs: urgentMs,
  });
});
