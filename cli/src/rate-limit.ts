/**
 * The gateway limits requests per API key and answers ResourceExhausted with a `retry-after` (seconds) when
 * a caller goes over. A batch client should slow down, not fail: calls refused that way are retried after
 * the wait the gateway asked for. ResourceExhausted without `retry-after` (a file over the upload limit)
 * is not a rate limit and is never retried.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { sleep } from "@imgc/common/retry";

/** Retries of one call before its rate-limit error is given up to the caller. */
export const RATE_LIMIT_RETRIES = 8;

/** How long the gateway asked to wait, in ms, when `err` is its rate limit; undefined otherwise. */
export function retryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.ResourceExhausted) return undefined;
  const seconds = Number(err.metadata.get("retry-after"));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 60) * 1000 : undefined;
}

/** Runs `call`, again after the asked wait each time it is rate-limited, up to RATE_LIMIT_RETRIES times. */
export async function retryRateLimited<T>(
  call: () => Promise<T>,
  wait: (ms: number) => Promise<void> = sleep,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const ms = retryAfterMs(err);
      if (ms === undefined || attempt >= RATE_LIMIT_RETRIES) throw err;
      await wait(ms);
    }
  }
}

/** Unary calls retry by themselves; streams are retried where they are opened (uploads, follow). */
export const rateLimitInterceptor: Interceptor = (next) => (request) =>
  request.stream ? next(request) : retryRateLimited(() => next(request));
