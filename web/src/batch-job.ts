/** What can be done to the job shown, on the cluster and on the page: cancel it, rename it, delete it. */
import { isTerminalJobState } from "@imgc/proto";
import type { BatchDeps, BatchState } from "./batch-state.js";
import { messageOf } from "./error-message.js";

export interface JobActions {
  /** Cancels the upload under way, or the job shown. */
  cancel(): Promise<void>;
  rename(label: string): void;
  /** Deletes the shown job and its data on the cluster; it leaves the recent list. */
  deleteJob(): Promise<void>;
}

export function createJobActions(
  { api, view, recent, announce, showing }: BatchDeps,
  state: BatchState,
  /** Empties the batch: no rows, nothing shown. */
  reset: () => void,
): JobActions {
  return {
    async cancel() {
      if (state.stage().kind === "uploading") {
        state.stop();
        return;
      }
      const current = state.shownJob();
      if (!current) return;
      try {
        const { job } = await api.jobs.cancelJob({ jobId: current.jobId });
        if (job && state.stage() === current && !(current.job && isTerminalJobState(current.job.state))) {
          current.job = job;
          view.setStage({ ...current });
        }
        announce("Job cancelled.");
      } catch (err) {
        view.setError(`The job could not be cancelled: ${messageOf(err)}`);
      }
    },

    rename(label) {
      const shown = state.shownJob();
      if (!shown) return;
      const title = label.trim().slice(0, 200);
      recent.rename(shown.jobId, title);
      shown.title = title || shown.job?.label || `Job ${shown.jobId}`;
      view.setStage({ ...shown });
    },

    async deleteJob() {
      const shown = state.shownJob();
      if (!shown) return;
      const jobId = shown.jobId;
      try {
        await api.jobs.deleteJob({ jobId });
        recent.forget(jobId);
        reset();
        showing(undefined);
        announce("Job deleted.");
      } catch (err) {
        view.setError(`The job could not be deleted: ${messageOf(err)}`);
      }
    },
  };
}
