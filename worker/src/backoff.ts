/** Retrying with exponential backoff, bounded by a time budget and cancellable. */

export class AbortedError extends Error {
  override name = "AbortedError";
  static isAborted(err: unknown): err is AbortedError {
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
  /** Whether a failure is worth another try; anything else is rethrown at once. */
  retryable(err: unknown): boolean;
  /** Give up (rethrowing the last error) once the next attempt would start past this many ms. */
  budgetMs: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
}

export async function retry<T>(run: () => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now();
  const maxDelay = options.maxDelayMs ?? 5_000;
  let delay = options.firstDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new AbortedError("aborted");
    try {
      return await run();
    } catch (err) {
      if (!options.retryable(err)) throw err;
      const remaining = options.budgetMs - (Date.now() - started);
      if (remaining <= 0) throw err;
      // Jitter spreads the retries of many workers that lost the same server at the same moment.
      const wait = Math.min(remaining, delay * (0.75 + Math.random() / 2));
      options.onRetry?.(err, attempt, wait);
      await sleep(wait, options.signal);
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}
