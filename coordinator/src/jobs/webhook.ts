/**
 * The job's webhook: POSTed once when the job ends, signed, retried with backoff, never blocking the job. The
 * URL goes through the SSRF guard like any other URL the coordinator fetches for a caller.
 *
 * Signed always: a tenant with no secret (neither in IMGC_WEBHOOK_SECRETS nor IMGC_WEBHOOK_SECRET) gets no
 * webhook at all, and a warning says which setting is missing; an unsigned POST would be forgeable by anyone
 * who learns the receiver's URL. Each event carries an id, the same in every attempt, for replay protection.
 */
import { toJson } from "@bufbuild/protobuf";
import {
  type Logger,
  retry,
  signWebhook,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from "@imgc/common";
import { type Job, JobSchema } from "@imgc/proto";
import { FetchError, type GuardedFetch } from "../net/ssrf-guard.js";

export interface WebhookDeps {
  log: Logger;
  guard: Pick<GuardedFetch, "request">;
  /** The tenant's signing secret; "" means none, and then no webhook is sent. */
  secretFor: (tenant: string) => string;
  /** Attempts in all (IMGC_WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** The first retry's delay; each next one doubles (1 s, 2 s, 4 s …, each up to half again longer). */
  baseDelayMs?: number;
}

export const WEBHOOK_EVENT = "job.finished";

/** The receiver answered, but not 2xx. */
class StatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** Secrets from IMGC_WEBHOOK_SECRETS ("tenant:secret,...") over the one IMGC_WEBHOOK_SECRET. */
export function webhookSecrets(perTenant: string, fallback: string): (tenant: string) => string {
  const secrets = new Map<string, string>();
  for (const entry of perTenant.split(",")) {
    const at = entry.indexOf(":");
    if (at > 0) secrets.set(entry.slice(0, at).trim(), entry.slice(at + 1).trim());
  }
  return (tenant) => secrets.get(tenant) ?? fallback;
}

export function createWebhooks(deps: WebhookDeps) {
  const { log, guard } = deps;
  const maxAttempts = deps.maxAttempts ?? 6;
  const baseDelayMs = deps.baseDelayMs ?? 1_000;

  /** The status of one signed POST (a fresh timestamp each attempt, so late retries still verify). */
  async function post(job: Job, eventId: string, secret: string, body: string): Promise<number> {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await guard.request(job.webhookUrl, {
      method: "POST",
      anyStatus: true,
      headers: {
        "content-type": "application/json",
        "x-imgc-job": job.id,
        [WEBHOOK_EVENT_ID_HEADER]: eventId,
        [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
        [WEBHOOK_SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
      },
      body,
    });
    response.body.resume();
    return response.status;
  }

  return {
    /** Resolves true once the receiver answered 2xx, false when it gave up. */
    notify(job: Job): Promise<boolean> {
      if (!job.webhookUrl) return Promise.resolve(false);
      const secret = deps.secretFor(job.tenant);
      if (!secret) {
        log.warn(
          { jobId: job.id, tenant: job.tenant },
          "webhook not sent: no signing secret for the tenant (set IMGC_WEBHOOK_SECRETS or IMGC_WEBHOOK_SECRET)",
        );
        return Promise.resolve(false);
      }
      // One event per job end: a job ends once, so its id names the event, whichever attempt carries it.
      const eventId = `${job.id}.${WEBHOOK_EVENT}`;
      const body = JSON.stringify({ id: eventId, event: WEBHOOK_EVENT, job: toJson(JobSchema, job) });
      const attempt = async () => {
        const status = await post(job, eventId, secret, body);
        if (status < 200 || status >= 300) throw new StatusError(status);
        return true;
      };
      const retryable = (err: unknown, attempt: number) => {
        if (err instanceof StatusError) {
          log.debug({ jobId: job.id, attempt, status: err.status }, "webhook attempt refused");
          // A 4xx other than 429 will not get better by asking again.
          return err.status >= 500 || err.status === 429;
        }
        // A refused URL stays refused.
        if (err instanceof FetchError && err.failure === "refused") return false;
        log.debug({ err, jobId: job.id, attempt }, "webhook attempt failed");
        return true;
      };
      return retry(attempt, {
        retryable,
        attempts: maxAttempts,
        firstDelayMs: baseDelayMs,
        maxDelayMs: Infinity,
      }).catch((err: unknown) => {
        if (err instanceof FetchError && err.failure === "refused") {
          log.warn({ jobId: job.id, reason: err.message }, "webhook refused");
        } else log.warn({ jobId: job.id, url: job.webhookUrl }, "webhook gave up");
        return false;
      });
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
