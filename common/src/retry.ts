/**
 * Waiting and trying again, the one way every process does it: `sleep` that an AbortSignal cuts short, and
 * `retry` with exponential backoff, bounded by a number of attempts, a time budget, or both.
 */

export class AbortedError extends Error {
  override name = "AbortedError";
  static is(err: unknown): err is AbortedError {
    return err instanceof AbortedError;
  }
}

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError("aborted"));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError("aborted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface RetryOptions {
  /**
   * Whether a failure is worth another try (it may also log it); anything else is rethrown at once. Asked
   * after every failure, so it may also stop the retries for a reason of its own (the process stopping).
   */
  retryable(err: unknown, attempt: number): boolean;
  /** Give up (rethrowing the last error) after this many attempts. */
  attempts?: number;
  /** Give up (rethrowing the last error) once the next attempt would start past this many ms. */
  budgetMs?: number;
  /**
   * The wait after the first failure (default 200 ms), doubling after each one up to maxDelayMs (5 s); each
   * wait is at least that, and up to half again.
   */
  firstDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
}

/** `run` until it succeeds, a failure is not retryable, or the attempts or the budget are spent. */
export async function retry<T>(run: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now();
  const maxDelay = options.maxDelayMs ?? 5_000;
  let delay = options.firstDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new AbortedError("aborted");
    try {
      return await run(attempt);
    } catch (err) {
      if (!options.retryable(err, attempt) || attempt === options.attempts) throw err;
      const remaining = (options.budgetMs ?? Number.POSITIVE_INFINITY) - (Date.now() - started);
      if (remaining <= 0) throw err;
      // Jitter spreads the retries of many processes that lost the same server at the same moment; only
      // upwards, so that a caller's spacing (a webhook's 1 s, 2 s, 4 s) is a promise.
      const wait = Math.min(remaining, delay * (1 + Math.random() / 2));
      options.onRetry?.(err, attempt, wait);
      await sleep(wait, options.signal);
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}
