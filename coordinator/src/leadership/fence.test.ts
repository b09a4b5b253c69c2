import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobSchema, JobState } from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestNats, type TestNats } from "../../../scripts/lib/test-nats.js";
import { createJobStore } from "../jobs/job-store.js";
import { type Fence, isNotLeader, NotLeaderError } from "./fence.js";

let nats: TestNats;
let nc: NatsConnection;
beforeEach(async () => {
  nats = await startTestNats();
  nc = await nats.connect();
});
afterEach(async () => {
  await nc.close();
  await nats.stop();
});

/** A fence whose term the test sets; 0 means "not leader". */
function fenceAt(state: { term: number }): Fence {
  return {
    check() {
      if (state.term === 0) throw new NotLeaderError(undefined);
      return state.term;
    },
  };
}

describe("fenced job records", () => {
  it("a writer of an older term cannot overwrite a record a newer term wrote, even from a record it read before", async () => {
    const kv = await nc.jetstream().views.kv("fence-test");
    const oldLeader = createJobStore(kv, fenceAt({ term: 5 }));
    const newLeader = createJobStore(kv, fenceAt({ term: 9 }));
    await oldLeader.create(create(JobSchema, { id: "job1", state: JobState.RUNNING }));
    // The old leader read the record (the revision it would write at) before it was paused.
    const stale = await oldLeader.get("job1");
    if (!stale) throw new Error("no job");
    // The new leader takes the job over: the record now carries its term.
    const taken = await newLeader.update("job1", () => {});
    expect(taken?.value.leaderTerm).toBe(9n);
    // The old leader wakes and writes the end of the job, from its stale copy and by a fresh read alike.
    const fromStale = await oldLeader
      .update(
        "job1",
        (job) => {
          job.state = JobState.COMPLETED;
        },
        stale,
      )
      .catch((err: unknown) => err);
    expect(isNotLeader(fromStale)).toBe(true);
    expect((fromStale as ConnectError).code).toBe(Code.Unavailable);
    const fresh = await oldLeader
      .update("job1", (job) => {
        job.state = JobState.COMPLETED;
      })
      .catch((err: unknown) => err);
    expect(isNotLeader(fresh)).toBe(true);
    expect((await newLeader.get("job1"))?.value.state).toBe(JobState.RUNNING);
  });

  it("a process without a lease writes nothing at all", async () => {
    const kv = await nc.jetstream().views.kv("fence-test");
    const nobody = createJobStore(kv, fenceAt({ term: 0 }));
    const err = await nobody.create(create(JobSchema, { id: "job2" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(isNotLeader(err)).toBe(true);
    expect(await kv.get("job2")).toBeNull();
  });
});
