/**
 * The life of one batch of images on the page, composed of its parts: the files dropped and checked
 * (src/batch-files.ts), sent as one job (src/batch-send.ts), followed live or reopened by id
 * (src/batch-follow.ts), their outputs compared or downloaded (src/batch-outputs.ts), run again as a new job
 * linked to the old one (src/batch-again.ts), and the job cancelled, renamed or deleted (src/batch-job.ts).
 * What they share is in src/batch-state.ts.
 */

import { type Again, createAgain } from "./batch-again.js";
import { createBatchFiles } from "./batch-files.js";
import { createFollower } from "./batch-follow.js";
import { createJobActions, type JobActions } from "./batch-job.js";
import { createOutputs, type Outputs } from "./batch-outputs.js";
import { createSend } from "./batch-send.js";
import { type BatchDeps, createBatchState } from "./batch-state.js";
import { createResults } from "./results.js";
import type { Row } from "./row.js";

export type { RerunOptions } from "./batch-again.js";
export type { BatchDeps } from "./batch-state.js";

export interface Batch extends Again, Outputs, JobActions {
  addFiles(files: File[]): void;
  /** Files dropped while a job runs wait for the person's word: start a new batch with them, or not. */
  acceptPending(): void;
  discardPending(): void;
  start(): Promise<void>;
  clear(): void;
  /** Shows a job by id; does nothing when it is the one already shown. */
  open(jobId: string): Promise<void>;
  /** Takes rows off the list (the job on the server keeps them). */
  remove(rows: readonly Row[]): void;
  /** Whether something is on its way that a reload would lose. */
  busy(): boolean;
  jobId(): string | undefined;
}

export function createBatch(deps: BatchDeps): Batch {
  const state = createBatchState(deps);
  const results = createResults(deps.api.jobs);
  const follower = createFollower(deps, state, results, reset);
  const files = createBatchFiles(deps, state, reset);

  function reset(): void {
    follower.stop();
    state.setRows([]);
    state.setStage({ kind: "empty" });
    deps.view.setPending(0);
  }

  return {
    ...createAgain(deps, state, follower),
    ...createOutputs(deps, state, results),
    ...createJobActions(deps, state, reset),
    addFiles: files.add,
    acceptPending: files.acceptPending,
    discardPending: files.discardPending,
    start: createSend(deps, state, files, follower),
    clear: reset,
    open: follower.open,
    remove: files.remove,
    busy: state.sending,
    jobId: () => state.shownJob()?.jobId,
  };
}
