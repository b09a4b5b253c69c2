import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { JobService, type SubmitJobRequest } from "@imgc/proto";
import { afterEach, describe, expect, test, vi } from "vitest";
import { newRow } from "./row.js";
import { submitRows } from "./submit.js";

/** A JobService whose SubmitJob answers with `answers` in turn (an error code, or "job"). */
function submitService(answers: (Code | "job")[]) {
  const calls: SubmitJobRequest[] = [];
  const transport = createRouterTransport(({ service }) =>
    service(JobService, {
      submitJob(req) {
        calls.push(req);
        const answer = answers[calls.length - 1] ?? "job";
        if (answer !== "job") throw new ConnectError("no coordinator", answer);
        return { job: { id: "j".repeat(20), label: req.label } };
      },
    }),
  );
  return { jobs: createClient(JobService, transport), calls };
}

const rows = [newRow({ name: "a.jpg", size: 10, phase: "uploaded", key: "uploads/default/1/a.jpg" })];
const work = { options: {}, tasks: [] };

describe("submitRows", () => {
  afterEach(() => vi.useRealTimers());

  test("retries while the gateway is unavailable, with the same idempotency key", async () => {
    vi.useFakeTimers();
    const { jobs, calls } = submitService([Code.Unavailable, Code.Unavailable, "job"]);
    const submitted = submitRows(jobs, rows, work, "a.jpg", new AbortController().signal);
    await vi.runAllTimersAsync();
    const job = await submitted;
    expect(job.label).toBe("a.jpg");
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((c) => c.idempotencyKey)).size).toBe(1);
    expect(calls[0]?.idempotencyKey).toMatch(/^web-[0-9a-f]{32}$/);
  });

  test("gives up after four attempts", async () => {
    vi.useFakeTimers();
    const { jobs, calls } = submitService(Array(10).fill(Code.Unavailable));
    const submitted = submitRows(jobs, rows, work, "a.jpg", new AbortController().signal);
    const failed = expect(submitted).rejects.toMatchObject({ code: Code.Unavailable });
    await vi.runAllTimersAsync();
    await failed;
    expect(calls).toHaveLength(4);
  });

  test("does not retry an answer another attempt would not change", async () => {
    const { jobs, calls } = submitService([Code.InvalidArgument]);
    await expect(submitRows(jobs, rows, work, "a.jpg", new AbortController().signal)).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    expect(calls).toHaveLength(1);
  });

  test("an abort during the wait stops the retries", async () => {
    vi.useFakeTimers();
    const { jobs, calls } = submitService(Array(10).fill(Code.Unavailable));
    const abort = new AbortController();
    const submitted = submitRows(jobs, rows, work, "a.jpg", abort.signal);
    const failed = expect(submitted).rejects.toBeInstanceOf(ConnectError);
    await vi.advanceTimersByTimeAsync(10);
    abort.abort();
    await vi.runAllTimersAsync();
    await failed;
    expect(calls).toHaveLength(1);
  });
});
