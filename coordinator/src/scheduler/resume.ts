/**
 * Restart: every job that has not ended is reopened. Its counters are re-derived from the results bucket,
 * chunks that never reached the stream are published, claims recorded in KV are adopted (the membership
 * decides later whether their workers still live), an interrupted cancel is finished, and a job whose
 * results were all in before the crash ends.
 */
import { type Logger, laneOf, retry } from "@imgc/common";
import { type ItemResult, type Job, JobState } from "@imgc/proto";
import type { ChunkStore } from "../jobs/chunk-store.js";
import type { JobStore } from "../jobs/job-store.js";
import type { Lifecycle } from "../jobs/lifecycle.js";
import { isNotLeader } from "../leadership/fence.js";
import type { Assignments } from "./assignments.js";
import type { Dispatcher } from "./dispatcher.js";

export interface ResumeDeps {
  jobs: JobStore;
  chunks: ChunkStore;
  lifecycle: Lifecycle;
  dispatcher: Dispatcher;
  assignments: Assignments;
  itemsOf: (jobId: string) => Promise<ItemResult[]>;
  log: Logger;
  /** Aborted when the term resuming them stops (its lease lost): no further job is opened. */
  signal?: AbortSignal;
}

export async function resumeJob(deps: ResumeDeps, job: Job): Promise<void> {
  const { chunks, lifecycle, dispatcher, assignments } = deps;
  const { ledger } = await lifecycle.open(job);
  if (job.state === JobState.CANCELLED) {
    await lifecycle.cancel(job.id, deps.itemsOf);
    return;
  }
  const [list, dispatch] = await Promise.all([chunks.all(job.id), chunks.allDispatch(job.id)]);
  const unpublished = list.filter((chunk) => !dispatch.has(chunk.index));
  if (unpublished.length > 0) await dispatcher.enqueue(unpublished, laneOf(job.priority));
  for (const chunk of list) {
    const record = dispatch.get(chunk.index);
    if (!record?.workerId || record.completed) continue;
    const pending = chunk.items.map((item) => item.itemId).filter((id) => !ledger.hasTask(id, chunk.kind));
    assignments.adopt(record.workerId, job.id, chunk.index, pending);
  }
  if (ledger.complete) await lifecycle.finish(job.id);
  deps.log.info(
    { jobId: job.id, ended: ledger.ended, total: ledger.total, published: unpublished.length },
    "job resumed",
  );
}

/** Reopens every job not ended; returns how many. Fails (and the coordinator with it) rather than leave one behind. */
export async function resumeAll(deps: ResumeDeps): Promise<number> {
  const all = await deps.jobs.load();
  let resumed = 0;
  for (const job of all) {
    if (job.finishedAt) continue;
    const retryable = (err: unknown, attempt: number) => {
      // A lost lease does not come back by trying again.
      if (isNotLeader(err)) return false;
      deps.log.error({ err, jobId: job.id, attempt }, "could not resume a job");
      return true;
    };
    deps.signal?.throwIfAborted();
    await retry(() => resumeJob(deps, job), {
      retryable,
      attempts: 3,
      firstDelayMs: 1_000,
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
    resumed++;
  }
  return resumed;
}
