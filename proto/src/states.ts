/** Which job and item states are final: nothing changes a job or an item once it is in one. */
import { ItemState, JobState } from "../gen/imgc/v1/job_pb.js";

export const TERMINAL_JOB_STATES: readonly JobState[] = [
  JobState.COMPLETED,
  JobState.COMPLETED_WITH_ERRORS,
  JobState.FAILED,
  JobState.CANCELLED,
];

export const TERMINAL_ITEM_STATES: readonly ItemState[] = [ItemState.DONE, ItemState.KEPT_ORIGINAL, ItemState.FAILED];

export const isTerminalJobState = (state: JobState): boolean => TERMINAL_JOB_STATES.includes(state);

export const isTerminalItemState = (state: ItemState): boolean => TERMINAL_ITEM_STATES.includes(state);
