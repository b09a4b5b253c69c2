/**
 * The coordinator's cap on fetches in flight (IMGC_FETCH_MAX_CONCURRENT): one pool shared by every job's
 * manifests, images and webhooks, so a few huge manifests cannot open thousands of outbound connections. A
 * waiter whose caller has gone (its signal aborted) leaves the queue instead of taking a slot it would waste.
 */
export interface FetchSlots {
  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void>;
  readonly busy: number;
}

export function createFetchSlots(size: number): FetchSlots {
  let busy = 0;
  const waiting: Array<() => void> = [];

  function releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      // Hand the slot straight to the next waiter, so nobody overtakes it between release and wake-up.
      if (next) next();
      else busy--;
    };
  }

  return {
    get busy() {
      return busy;
    },
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (busy < size) {
        busy++;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(releaser());
        };
        const onAbort = () => {
          const at = waiting.indexOf(wake);
          if (at >= 0) waiting.splice(at, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        waiting.push(wake);
      });
    },
  };
}
