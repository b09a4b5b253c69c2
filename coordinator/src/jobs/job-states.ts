import { ItemState, JobState } from "@imgc/proto";

const ENDED = new Set([JobState.COMPLETED, JobState.COMPLETED_WITH_ERRORS, JobState.FAILED, JobState.CANCELLED]);

export function isTerminalJobState(state: JobState): boolean {
  return ENDED.has(state);
}

export function isTerminalItemState(state: ItemState): boolean {
  return state === ItemState.DONE || state === ItemState.KEPT_ORIGINAL || state === ItemState.FAILED;
}

/** The state a job ends in once every item has a result. */
export function finalState(counts: { total: number; failed: number }, cancelled: boolean): JobState {
  if (cancelled) return JobState.CANCELLED;
  if (counts.total > 0 && counts.failed === counts.total) return JobState.FAILED;
  return counts.failed > 0 ? JobState.COMPLETED_WITH_ERRORS : JobState.COMPLETED;
}
