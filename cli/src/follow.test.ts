import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { JobService, JobState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createProgress, followJob } from "./follow.js";

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { output: { isTTY, write: (text: string) => writes.push(text) }, writes };
}

describe("progress display", () => {
  test("on a terminal, one line redrawn in place, ended by a newline", () => {
    const { output, writes } = sink(true);
    const progress = createProgress(output);
    progress.update("1/3");
    progress.update("2/3");
    progress.finish("3/3 done");
    expect(writes).toEqual(["\r\x1b[2K1/3", "\r\x1b[2K2/3", "\r\x1b[2K3/3 done\n"]);
  });

  test("elsewhere, plain lines at most once a second, and always the final one", () => {
    const { output, writes } = sink(false);
    let now = 0;
    const progress = createProgress(output, () => now);
    progress.update("1/3");
    now = 400;
    progress.update("2/3");
    now = 1200;
    progress.update("2/3 · 1 running");
    progress.finish("3/3 done");
    progress.finish("3/3 done");
    expect(writes).toEqual(["1/3\n", "2/3 · 1 running\n", "3/3 done\n"]);
  });
});

describe("followJob", () => {
  test("resumes after the last event seen when the stream breaks, and returns the ended job", async () => {
    const asked: bigint[] = [];
    let calls = 0;
    const jobs = createClient(
      JobService,
      createRouterTransport(({ service }) =>
        service(JobService, {
          async *watchJob(request) {
            asked.push(request.afterSequence);
            calls++;
            if (calls === 1) {
              yield { event: { sequence: 1n, kind: { case: "job", value: { id: "j", state: JobState.RUNNING } } } };
              yield { event: { sequence: 2n } };
              throw new ConnectError("gateway restarting", Code.Unavailable);
            }
            yield { event: { sequence: 3n, kind: { case: "job", value: { id: "j", state: JobState.COMPLETED } } } };
          },
          getJob: () => ({ job: { id: "j", state: JobState.COMPLETED } }),
        }),
      ),
    );
    const states: JobState[] = [];
    const sleeps: number[] = [];
    const job = await followJob(jobs, "j", {
      onJob: (next) => states.push(next.state),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    expect(job.state).toBe(JobState.COMPLETED);
    expect(asked).toEqual([0n, 2n]);
    expect(states).toEqual([JobState.RUNNING, JobState.COMPLETED, JobState.COMPLETED]);
    expect(sleeps).toHaveLength(1);
  });

  test("gives up on errors that retrying cannot fix, and after too many failures in a row", async () => {
    const notFound = createClient(
      JobService,
      createRouterTransport(({ service }) =>
        service(JobService, {
          // biome-ignore lint/correctness/useYield: it fails before its first event
          async *watchJob() {
            throw new ConnectError("no job x", Code.NotFound);
          },
        }),
      ),
    );
    await expect(followJob(notFound, "x", { sleep: async () => {} })).rejects.toMatchObject({ code: Code.NotFound });

    let attempts = 0;
    const down = createClient(
      JobService,
      createRouterTransport(({ service }) =>
        service(JobService, {
          // biome-ignore lint/correctness/useYield: it fails before its first event
          async *watchJob() {
            attempts++;
            throw new ConnectError("down", Code.Unavailable);
          },
        }),
      ),
    );
    await expect(followJob(down, "x", { retries: 3, sleep: async () => {} })).rejects.toMatchObject({
      code: Code.Unavailable,
    });
    expect(attempts).toBe(4);
  });
});
