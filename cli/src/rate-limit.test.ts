import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { JobService, JobState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { followJob } from "./follow.js";
import { RATE_LIMIT_RETRIES, rateLimitInterceptor, retryAfterMs, retryRateLimited } from "./rate-limit.js";

const limited = (seconds: number) =>
  new ConnectError("rate limit exceeded", Code.ResourceExhausted, { "retry-after": String(seconds) });

describe("the gateway's rate limit", () => {
  test("only ResourceExhausted with retry-after is a rate limit", () => {
    expect(retryAfterMs(limited(3))).toBe(3000);
    expect(retryAfterMs(new ConnectError('"a.jpg" is larger than the upload limit', Code.ResourceExhausted))).toBe(
      undefined,
    );
    expect(retryAfterMs(new ConnectError("x", Code.Unavailable, { "retry-after": "3" }))).toBe(undefined);
  });

  test("a rate-limited call is retried after the asked wait; other errors and the last refusal pass", async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    let calls = 0;
    expect(
      await retryRateLimited(async () => {
        if (++calls < 3) throw limited(2);
        return "ok";
      }, sleep),
    ).toBe("ok");
    expect(waits).toEqual([2000, 2000]);

    calls = 0;
    await expect(
      retryRateLimited(async () => {
        calls++;
        throw new ConnectError("nope", Code.NotFound);
      }, sleep),
    ).rejects.toThrow(/nope/);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      retryRateLimited(async () => {
        calls++;
        throw limited(1);
      }, sleep),
    ).rejects.toThrow(/rate limit/);
    expect(calls).toBe(RATE_LIMIT_RETRIES + 1);
  });

  test("the client interceptor retries unary calls by itself", async () => {
    let calls = 0;
    const client = createClient(
      JobService,
      createRouterTransport(
        ({ service }) =>
          service(JobService, {
            getJob(request) {
              if (++calls === 1) throw limited(1);
              return { job: { id: request.jobId } };
            },
          }),
        { transport: { interceptors: [rateLimitInterceptor] } },
      ),
    );
    expect((await client.getJob({ jobId: "j" })).job?.id).toBe("j");
    expect(calls).toBe(2);
  });

  test("following a job waits out a rate-limited WatchJob and resumes", async () => {
    let watches = 0;
    const waits: number[] = [];
    const client = createClient(
      JobService,
      createRouterTransport(({ service }) =>
        service(JobService, {
          async *watchJob(request) {
            if (++watches === 1) throw limited(4);
            yield {
              event: { sequence: 1n, kind: { case: "job", value: { id: request.jobId, state: JobState.COMPLETED } } },
            };
          },
          getJob: (request) => ({ job: { id: request.jobId, state: JobState.COMPLETED } }),
        }),
      ),
    );
    const job = await followJob(client, "j", { sleep: async (ms) => void waits.push(ms) });
    expect(job.state).toBe(JobState.COMPLETED);
    expect(waits).toEqual([4000]);
  });
});
