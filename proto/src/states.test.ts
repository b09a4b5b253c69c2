import { describe, expect, test } from "vitest";
import { ItemState, JobState } from "../gen/imgc/v1/job_pb.js";
import { isTerminalItemState, isTerminalJobState, TERMINAL_JOB_STATES } from "./states.js";

describe("final states", () => {
  test("a job has ended when it completed (with or without errors), failed or was cancelled", () => {
    expect(TERMINAL_JOB_STATES).toEqual([
      JobState.COMPLETED,
      JobState.COMPLETED_WITH_ERRORS,
      JobState.FAILED,
      JobState.CANCELLED,
    ]);
    for (const open of [JobState.UNSPECIFIED, JobState.QUEUED, JobState.RUNNING]) {
      expect(isTerminalJobState(open)).toBe(false);
    }
    expect(isTerminalJobState(JobState.CANCELLED)).toBe(true);
  });

  test("an item has ended when it is done, kept its original or failed", () => {
    const ended = Object.values(ItemState).filter((state) => typeof state === "number" && isTerminalItemState(state));
    expect(ended.sort()).toEqual([ItemState.DONE, ItemState.KEPT_ORIGINAL, ItemState.FAILED].sort());
  });
});
