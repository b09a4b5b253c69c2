import { JobState } from "@imgc/proto";

/** The state a job ends in once every item has a result. */
export function finalState(counts: { total: number; failed: number }, cancelled: boolean): JobState {
  if (cancelled) return JobState.CANCELLED;
  if (counts.total > 0 && counts.failed === counts.total) return JobState.FAILED;
  return counts.failed > 0 ? JobState.COMPLETED_WITH_ERRORS : JobState.COMPLETED;
}
