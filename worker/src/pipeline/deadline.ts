import { ErrorCode } from "@imgc/proto";
import { ItemError } from "../item-error.js";

/** The time budget of one image, and the caller's abort signal, checked between steps and raced against each. */
export interface Deadline {
  /** Whole seconds left, at least 1: sharp's own timeout, so a runaway libvips task stops too. */
  seconds(): number;
  /** Throws TIMEOUT or CANCELLED when the budget is spent or the caller gave up. */
  check(): void;
  /** The promise's value, unless the budget runs out or the caller aborts first. */
  run<T>(work: Promise<T>): Promise<T>;
}

const timedOut = (timeoutMs: number) =>
  new ItemError(ErrorCode.TIMEOUT, `Processing the image took longer than the limit of ${timeoutMs} ms`);
const cancelled = () => new ItemError(ErrorCode.CANCELLED, "Processing was cancelled");

export const createDeadline = (timeoutMs: number, signal?: AbortSignal): Deadline => {
  const end = Date.now() + timeoutMs;
  const check = (): void => {
    if (signal?.aborted) throw cancelled();
    if (Date.now() >= end) throw timedOut(timeoutMs);
  };
  return {
    seconds: () => Math.max(1, Math.ceil((end - Date.now()) / 1000)),
    check,
    run: <T>(work: Promise<T>): Promise<T> => {
      check();
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stop = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timedOut(timeoutMs)), end - Date.now());
        onAbort = () => reject(cancelled());
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      // The abandoned work may still settle later; its rejection must not become an unhandled one.
      work.catch(() => {});
      return Promise.race([work, stop]).finally(() => {
        clearTimeout(timer);
        if (onAbort) signal?.removeEventListener("abort", onAbort);
      });
    },
  };
};
