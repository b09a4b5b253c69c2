/**
 * Running a shown job's originals again, as a new job linked to it: chosen rows with the old job's options or
 * the panel's (SubmitJob with their source keys), or the job's failed items (RetryJob on the cluster). The
 * originals stay on the cluster, so nothing is uploaded twice.
 */
import type { Job } from "@imgc/proto";
import type { Follower } from "./batch-follow.js";
import type { BatchDeps, BatchState } from "./batch-state.js";
import { messageOf } from "./error-message.js";
import { toJobWork } from "./options.js";
import { newRow, type Row } from "./row.js";
import { type JobWork, labelFor, submitRows } from "./submit.js";

/** With which options a re-run goes: the old job's own, or what the options panel says now. */
export type RerunOptions = "same" | "current";

export interface Again {
  /** Runs these rows' originals again as a new job, linked to the one shown. */
  rerun(rows: readonly Row[], options: RerunOptions): Promise<void>;
  /** Runs the shown job's failed items again with its own options (RetryJob on the cluster). */
  retryFailed(): Promise<void>;
}

export function createAgain(
  { api, view, recent, options, announce, showing }: BatchDeps,
  state: BatchState,
  follower: Follower,
): Again {
  /** Shows a job that runs these rows' originals again, in place of the job they came from. */
  function showAgain(job: Job, fromJobId: string, again: readonly Row[]): void {
    recent.remember(job, fromJobId);
    // The new job's rows keep what this page knows of each original (its file, for comparisons).
    const fresh = again.map((r) =>
      newRow({
        name: r.name,
        size: r.size,
        phase: "queued",
        key: r.key as string,
        ...(r.file ? { file: r.file } : {}),
        ...(r.kind ? { kind: r.kind } : {}),
      }),
    );
    follower.stop();
    state.setRows(fresh);
    showing(job.id);
    follower.follow(job.id, job);
    announce(`${again.length} ${again.length === 1 ? "image" : "images"} sent again.`);
  }

  return {
    async rerun(chosen, which) {
      const from = state.shownJob();
      if (!from) return;
      const again = chosen.filter((r) => r.key && r.phase !== "refused" && r.phase !== "upload-failed");
      if (again.length === 0) return;
      const abort = new AbortController();
      try {
        const old = which === "current" ? undefined : (from.job ?? (await api.jobs.getJob({ jobId: from.jobId })).job);
        const work: JobWork | undefined =
          which === "current"
            ? toJobWork(options())
            : old?.options && {
                options: old.options,
                tasks: old.tasks,
                ...(old.detection ? { detection: old.detection } : {}),
              };
        if (!work) throw new Error("the old job's options are unknown");
        const job = await submitRows(
          api.jobs,
          again,
          work,
          `${which === "same" ? "Retry" : "Re-run"} of ${labelFor(again.map((r) => r.name))}`,
          abort.signal,
        );
        showAgain(job, from.jobId, again);
      } catch (err) {
        view.setError(`The images could not be sent again: ${messageOf(err)}`);
      }
    },

    async retryFailed() {
      const from = state.shownJob();
      if (!from) return;
      const failed = state.rows().filter((r) => r.phase === "failed" && r.key);
      try {
        const { job } = await api.jobs.retryJob({ jobId: from.jobId });
        if (!job) throw new Error("the gateway returned no job");
        showAgain(job, from.jobId, failed);
      } catch (err) {
        view.setError(`The failed images could not be retried: ${messageOf(err)}`);
      }
    },
  };
}
