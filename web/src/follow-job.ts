/**
 * Follows a submitted job into its rows: WatchJob's item events (RUNNING ones included) update one row each,
 * and items ended in bulk (a cancel, a dead-lettered chunk), which arrive only as new job counts, are read
 * from GetResults.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type ItemResult, isTerminalJobState, type Job } from "@imgc/proto";
import type { JobClient } from "./api.js";
import { messageOf } from "./error-message.js";
import { type WatchStatus, watchJob } from "./job-watch.js";
import type { Results } from "./results.js";
import { applyResult, isFinished, type Row } from "./row.js";

export interface FollowHandlers {
  rows(): readonly Row[];
  rowFor(result: ItemResult): Row | undefined;
  /** A row changed. */
  touch(row: Row): void;
  /** The job changed (state, counts). */
  job(job: Job, ended: boolean): void;
  status(status: WatchStatus): void;
  /** Following cannot go on (the job is gone, say). */
  failed(message: string): void;
}

export function followJob(
  jobs: JobClient,
  results: Results,
  jobId: string,
  handlers: FollowHandlers,
  signal: AbortSignal,
): void {
  let latest: Job | undefined;
  const reconcile = reconciler(results, jobId, handlers, signal);
  const finishedRows = () => handlers.rows().filter(isFinished).length;
  watchJob(
    jobs,
    jobId,
    {
      event(event) {
        if (event.kind.case === "job") {
          const wasEnded = latest !== undefined && isTerminalJobState(latest.state);
          latest = event.kind.value;
          handlers.job(latest, !wasEnded && isTerminalJobState(latest.state));
          const c = latest.counts;
          if (c && c.done + c.keptOriginal + c.failed > finishedRows()) void reconcile();
        } else if (event.kind.case === "item") {
          const row = handlers.rowFor(event.kind.value);
          if (!row) return;
          applyResult(row, event.kind.value);
          handlers.touch(row);
        }
      },
      status: handlers.status,
    },
    signal,
  )
    .then(() => {
      if (!signal.aborted) return reconcile();
    })
    .catch((err: unknown) => {
      if (signal.aborted) return;
      handlers.failed(
        ConnectError.from(err).code === Code.NotFound
          ? `Job ${jobId} does not exist, or is not yours.`
          : `This job cannot be followed: ${messageOf(err)}`,
      );
    });
}

/** Reads GetResults into unfinished rows; calls arriving while one runs fold into one more run. */
function reconciler(results: Results, jobId: string, handlers: FollowHandlers, signal: AbortSignal) {
  let inFlight: Promise<void> | undefined;
  let again = false;
  const run = async (): Promise<void> => {
    do {
      again = false;
      try {
        const { results: page } = await results.all(jobId, false);
        if (signal.aborted) return;
        for (const result of page) {
          const row = handlers.rowFor(result);
          if (!row || isFinished(row)) continue;
          applyResult(row, result);
          handlers.touch(row);
        }
      } catch {
        // The next job event, or the end of the job, tries again.
      }
    } while (again && !signal.aborted);
  };
  return () => {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = run().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
