/**
 * Showing a job: following it live into the rows (src/follow-job.ts) with its thumbnails, the words said when
 * it ends, and reopening a job by id (after a reload, or from the recent list) from its results.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { formatBytes, formatSaving, type Job } from "@imgc/proto";
import type { BatchDeps, BatchState, JobStage } from "./batch-state.js";
import { createThumbnails } from "./batch-thumbnails.js";
import { followJob } from "./follow-job.js";
import type { Stage } from "./job-view.js";
import type { Results } from "./results.js";
import { applyResult, baseName, hasOutput, newRow } from "./row.js";
import { totalsOf } from "./totals.js";

export interface Follower {
  /** Shows this job and follows it until it ends; whatever was followed before stops. */
  follow(jobId: string, job?: Job): void;
  /** Loads a job's results into new rows and follows it. */
  open(jobId: string): Promise<void>;
  /** Stops following, thumbnails included. */
  stop(): void;
}

export function createFollower(
  { api, view, recent, announce }: BatchDeps,
  state: BatchState,
  results: Results,
  /** Empties the batch: no rows, nothing shown. */
  reset: () => void,
): Follower {
  const thumbnails = createThumbnails(results, view);

  function jobStage(jobId: string, job?: Job): JobStage {
    const parentId = recent.parentOf(jobId);
    return {
      kind: "job",
      jobId,
      title: recent.labelOf(jobId) || job?.label || `Job ${jobId}`,
      watch: { kind: "connecting" },
      ...(job ? { job } : {}),
      ...(parentId ? { parent: { id: parentId, title: recent.labelOf(parentId) || `Job ${parentId}` } } : {}),
    };
  }

  /** Returns the signal that stops this following. */
  function follow(jobId: string, job?: Job): AbortSignal {
    const work = state.begin();
    const { signal } = work;
    const current = jobStage(jobId, job);
    state.setStage(current);
    const update = () => {
      if (state.isCurrent(work)) view.setStage({ ...current });
    };
    followJob(
      api.jobs,
      results,
      jobId,
      {
        rows: state.rows,
        rowFor: state.rowFor,
        touch(row) {
          view.touch(row);
          if (hasOutput(row)) thumbnails.schedule(jobId, signal);
        },
        job(next, ended) {
          current.job = next;
          if (!current.title || current.title === `Job ${jobId}`) current.title = next.label || current.title;
          update();
          if (ended) {
            announceEnd(next);
            thumbnails.last(jobId, signal);
          }
        },
        status(status) {
          current.watch = status;
          update();
        },
        failed(message) {
          current.error = message;
          current.watch = { kind: "ended" };
          update();
        },
      },
      signal,
    );
    return signal;
  }

  function announceEnd(job: Job): void {
    const t = totalsOf(state.rows());
    const c = job.counts;
    if (!c) return;
    const saving = formatSaving(t.before, t.after);
    const parts = [`Job finished: ${c.done + c.keptOriginal} of ${c.total} images compressed`];
    if (c.failed) parts.push(`${c.failed} failed`);
    if (saving) parts.push(`${formatBytes(t.before)} became ${formatBytes(t.after)} (${saving})`);
    announce(`${parts.join(", ")}.`);
  }

  async function open(jobId: string): Promise<void> {
    if (state.shownJob()?.jobId === jobId) return;
    reset();
    const loading: Stage = jobStage(jobId);
    state.setStage(loading);
    try {
      const { job, results: found } = await results.all(jobId, false);
      if (state.stage() !== loading) return;
      state.setRows(
        found.map((result) => {
          const row = newRow({ name: baseName(result.sourceKey), size: Number(result.inputBytes), phase: "queued" });
          applyResult(row, result);
          return row;
        }),
      );
      thumbnails.schedule(jobId, follow(jobId, job));
    } catch (err) {
      if (state.stage() !== loading) return;
      const error = ConnectError.from(err);
      state.setStage({
        ...loading,
        watch: { kind: "ended" },
        error:
          error.code === Code.NotFound
            ? `Job ${jobId} does not exist, or is not yours.`
            : `The job could not be loaded: ${error.rawMessage}`,
      });
    }
  }

  return {
    follow,
    open,
    stop() {
      state.stop();
      thumbnails.stop();
    },
  };
}
