/**
 * Thumbnails of a job's results come from presigned URLs, which GetResults gives for the whole job at once:
 * asked for soon after the first results, then at most every few seconds while more arrive.
 */
import type { JobView } from "./job-view.js";
import type { Results } from "./results.js";

export interface Thumbnails {
  /** New results arrived: their thumbnails come with the next round. */
  schedule(jobId: string, signal: AbortSignal): void;
  /** The job ended: its last results' thumbnails do not wait out the throttle. */
  last(jobId: string, signal: AbortSignal): void;
  stop(): void;
}

export function createThumbnails(results: Results, view: JobView): Thumbnails {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let asked = false;

  function schedule(jobId: string, signal: AbortSignal): void {
    if (timer !== undefined) return;
    const delay = asked ? 8000 : 1500;
    asked = true;
    timer = setTimeout(() => {
      void results
        .refresh(jobId)
        .then((urls) => {
          if (!signal.aborted) view.setThumbnails(urls);
        })
        .catch(() => {})
        .finally(() => {
          timer = undefined;
        });
    }, delay);
  }

  function stop(): void {
    clearTimeout(timer);
    timer = undefined;
    asked = false;
  }

  return {
    schedule,
    last(jobId, signal) {
      stop();
      schedule(jobId, signal);
    },
    stop,
  };
}
