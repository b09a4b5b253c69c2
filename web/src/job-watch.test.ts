import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  ItemResultSchema,
  ItemState,
  type JobEvent,
  JobEventSchema,
  JobSchema,
  JobService,
  JobState,
} from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { type WatchStatus, watchJob } from "./job-watch.js";

function itemEvent(sequence: number): JobEvent {
  return create(JobEventSchema, {
    sequence: BigInt(sequence),
    jobId: "j",
    kind: { case: "item", value: create(ItemResultSchema, { itemId: String(sequence), state: ItemState.DONE }) },
  });
}

function jobEvent(sequence: number, state: JobState): JobEvent {
  return create(JobEventSchema, {
    sequence: BigInt(sequence),
    jobId: "j",
    kind: { case: "job", value: create(JobSchema, { id: "j", state }) },
  });
}

/**
 * A WatchJob that replays `log` after the requested sequence; `cut(n)` decides whether the attempt numbered n
 * (from 1) breaks after sending its first event.
 */
function watchService(log: JobEvent[], cut: (attempt: number) => "error" | "end" | false) {
  const requests: bigint[] = [];
  const transport = createRouterTransport(({ service }) =>
    service(JobService, {
      async *watchJob(req) {
        if (req.jobId !== "j") throw new ConnectError("no such job", Code.NotFound);
        requests.push(req.afterSequence);
        const how = cut(requests.length);
        let sent = 0;
        for (const event of log) {
          if (event.sequence <= req.afterSequence) continue;
          yield { event };
          if (how && ++sent === 1) {
            if (how === "error") throw new ConnectError("connection reset", Code.Unavailable);
            return;
          }
        }
      },
    }),
  );
  return { jobs: createClient(JobService, transport), requests };
}

const quick = { backoffMs: () => 1, isOnline: () => true };

describe("watchJob", () => {
  test("after drops, resumes from the last sequence seen: every event once, in order", async () => {
    const log = [
      jobEvent(1, JobState.RUNNING),
      itemEvent(2),
      itemEvent(3),
      itemEvent(4),
      jobEvent(5, JobState.COMPLETED),
    ];
    // Attempts 1 and 2 fail after one event; attempt 3 ends cleanly too early (a gateway restarting).
    const { jobs, requests } = watchService(log, (n) => (n <= 2 ? "error" : n === 3 ? "end" : false));
    const seen: bigint[] = [];
    const statuses: WatchStatus["kind"][] = [];
    await watchJob(
      jobs,
      "j",
      { event: (e) => seen.push(e.sequence), status: (s) => statuses.push(s.kind) },
      new AbortController().signal,
      quick,
    );
    expect(seen).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(requests).toEqual([0n, 1n, 2n, 3n]);
    expect(statuses.filter((s) => s === "reconnecting")).toHaveLength(6);
    expect(statuses.at(-1)).toBe("ended");
  });

  test("resumes from a given sequence", async () => {
    const log = [itemEvent(1), itemEvent(2), jobEvent(3, JobState.CANCELLED)];
    const { jobs, requests } = watchService(log, () => false);
    const seen: bigint[] = [];
    await watchJob(jobs, "j", { event: (e) => seen.push(e.sequence), status: () => {} }, new AbortController().signal, {
      ...quick,
      afterSequence: 2n,
    });
    expect(seen).toEqual([3n]);
    expect(requests).toEqual([2n]);
  });

  test("a job that does not exist is an error retrying cannot fix", async () => {
    const { jobs } = watchService([], () => false);
    await expect(
      watchJob(jobs, "missing", { event: () => {}, status: () => {} }, new AbortController().signal, quick),
    ).rejects.toMatchObject({ code: Code.NotFound });
  });

  test("offline: waits for the network instead of spinning, then resumes", async () => {
    const log = [itemEvent(1), jobEvent(2, JobState.COMPLETED)];
    const { jobs, requests } = watchService(log, (n) => (n === 1 ? "error" : false));
    const network = new EventTarget();
    let online = false;
    const statuses: WatchStatus["kind"][] = [];
    const done = watchJob(
      jobs,
      "j",
      { event: () => {}, status: (s) => statuses.push(s.kind) },
      new AbortController().signal,
      { backoffMs: () => 1, isOnline: () => online, network },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(statuses.at(-1)).toBe("offline");
    expect(requests).toHaveLength(1);
    online = true;
    network.dispatchEvent(new Event("online"));
    await done;
    expect(requests).toEqual([0n, 1n]);
  });

  test("aborting ends the watch quietly", async () => {
    const { jobs } = watchService([itemEvent(1)], () => false);
    const abort = new AbortController();
    const done = watchJob(jobs, "j", { event: () => abort.abort(), status: () => {} }, abort.signal, quick);
    await expect(done).resolves.toBeUndefined();
  });
});
