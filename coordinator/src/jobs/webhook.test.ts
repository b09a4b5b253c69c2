import { create } from "@bufbuild/protobuf";
import { createLogger } from "@imgc/common";
import { JobSchema, JobState } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { createWebhooks } from "./webhook.js";

const log = createLogger("test", "silent");
const job = create(JobSchema, { id: "job1", state: JobState.COMPLETED, webhookUrl: "https://hooks.test/imgc" });

function fakeFetch(statuses: number[]) {
  const calls: { url: string; body: string }[] = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, body: String(init.body) });
    return new Response(null, { status: statuses[calls.length - 1] ?? 200 });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

describe("webhooks", () => {
  it("POSTs the ended job once it is accepted", async () => {
    const { fn, calls } = fakeFetch([200]);
    expect(await createWebhooks(log, fn, 1).notify(job)).toBe(true);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe("https://hooks.test/imgc");
    expect(JSON.parse(calls[0]?.body ?? "{}")).toMatchObject({
      type: "job.ended",
      job: { id: "job1", state: "JOB_STATE_COMPLETED" },
    });
  });

  it("retries server errors, and gives up on a client error at once", async () => {
    const retried = fakeFetch([503, 500, 200]);
    expect(await createWebhooks(log, retried.fn, 1).notify(job)).toBe(true);
    expect(retried.calls).toHaveLength(3);
    const refused = fakeFetch([404, 200]);
    expect(await createWebhooks(log, refused.fn, 1).notify(job)).toBe(false);
    expect(refused.calls).toHaveLength(1);
  });

  it("does nothing for a job without a webhook", async () => {
    const { fn, calls } = fakeFetch([]);
    expect(await createWebhooks(log, fn, 1).notify(create(JobSchema, { id: "j" }))).toBe(false);
    expect(calls).toHaveLength(0);
  });
});
