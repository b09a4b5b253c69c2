/** The job's webhook: POSTed once when the job ends, retried a few times, never blocking the job. */
import { toJson } from "@bufbuild/protobuf";
import type { Logger } from "@imgc/common";
import { type Job, JobSchema } from "@imgc/proto";

const ATTEMPTS = 4;
const TIMEOUT_MS = 5_000;

export function createWebhooks(log: Logger, fetchFn: typeof fetch = fetch, baseDelayMs = 500) {
  return {
    notify(job: Job): Promise<boolean> {
      if (!job.webhookUrl) return Promise.resolve(false);
      const body = JSON.stringify({ type: "job.ended", job: toJson(JobSchema, job) });
      return (async () => {
        for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
          try {
            const response = await fetchFn(job.webhookUrl, {
              method: "POST",
              headers: { "content-type": "application/json", "x-imgc-job": job.id },
              body,
              signal: AbortSignal.timeout(TIMEOUT_MS),
            });
            if (response.ok) return true;
            // A 4xx other than 429 will not get better by asking again.
            if (response.status < 500 && response.status !== 429) break;
          } catch (err) {
            log.debug({ err, jobId: job.id, attempt }, "webhook attempt failed");
          }
          await new Promise((resolve) => setTimeout(resolve, baseDelayMs * 4 ** (attempt - 1)));
        }
        log.warn({ jobId: job.id, url: job.webhookUrl }, "webhook gave up");
        return false;
      })();
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
