/**
 * What the parts of a batch share (src/batch.ts composes them): the page's dependencies, the rows, indexed by
 * object key for the job's events, the stage on screen, and the work under way (an upload, the following of a
 * job) that the next one stops.
 */
import { type ItemResult, isTerminalJobState } from "@imgc/proto";
import type { Api } from "./api.js";
import type { Compare } from "./compare.js";
import type { DropZone } from "./drop-zone.js";
import type { JobView, Stage } from "./job-view.js";
import type { Options } from "./options.js";
import type { RecentJobs } from "./recent-jobs.js";
import type { Row } from "./row.js";
import type { PutFile } from "./upload.js";

export interface BatchDeps {
  api: Api;
  view: JobView;
  dropZone: DropZone;
  compare: Compare;
  recent: RecentJobs;
  options(): Options;
  announce(message: string): void;
  /** A job is shown that the address should name (submitted, or reopened). */
  showing(jobId: string | undefined): void;
  put?: PutFile;
}

export type JobStage = Extract<Stage, { kind: "job" }>;

export interface BatchState {
  rows(): Row[];
  setRows(rows: Row[]): void;
  /** The row of an item, by its source key. */
  rowFor(result: ItemResult): Row | undefined;
  /** Rows got their object keys (their upload ended): the index is built again. */
  keysChanged(): void;
  stage(): Stage;
  setStage(stage: Stage): void;
  /** The job on screen, if one is. */
  shownJob(): JobStage | undefined;
  /** A job is on screen and has not ended. */
  jobRunning(): boolean;
  /** An upload or a SubmitJob is under way. */
  sending(): boolean;
  /** Stops the work under way and starts new work: its controller. */
  begin(): AbortController;
  /** Whether this work is still the latest begun. */
  isCurrent(work: AbortController): boolean;
  /** Stops the work under way. */
  stop(): void;
}

export function createBatchState({ view, dropZone }: Pick<BatchDeps, "view" | "dropZone">): BatchState {
  let rows: Row[] = [];
  // Rows by object key (the items' source_key), indexed lazily: thousands of events each find their row at once.
  let byKey: Map<string, Row> | undefined;
  let stage: Stage = { kind: "empty" };
  let running: AbortController | undefined;
  const sending = () => stage.kind === "uploading" || stage.kind === "submitting";

  return {
    rows: () => rows,
    setRows(next) {
      rows = next;
      byKey = undefined;
      view.setRows(rows);
    },
    rowFor(result) {
      byKey ??= new Map(rows.filter((r) => r.key).map((r) => [r.key as string, r]));
      return byKey.get(result.sourceKey);
    },
    keysChanged() {
      byKey = undefined;
    },
    stage: () => stage,
    setStage(next) {
      stage = next;
      view.setStage(next);
      const busy = sending();
      dropZone.setEnabled(!busy, busy ? "Uploading: new files can be added once the job has started." : "");
    },
    shownJob: () => (stage.kind === "job" ? stage : undefined),
    jobRunning: () => stage.kind === "job" && !(stage.job && isTerminalJobState(stage.job.state)),
    sending,
    begin() {
      running?.abort();
      running = new AbortController();
      return running;
    },
    isCurrent: (work) => running === work,
    stop() {
      running?.abort();
      running = undefined;
    },
  };
}
