/**
 * Caps on long-lived calls per caller (a results.zip download, a WatchJob stream): each holds memory, a
 * coordinator stream or an S3 read for as long as it runs, and the rate limit counts it only once when it
 * starts. One key may hold at most `limit` at a time; the next one is refused until one ends.
 */
export interface CallerSlots {
  /** A release function, or undefined when the caller holds `limit` already. Release is idempotent. */
  acquire(caller: string): (() => void) | undefined;
}

export function createCallerSlots(limit: number): CallerSlots {
  const open = new Map<string, number>();
  return {
    acquire(caller) {
      const held = open.get(caller) ?? 0;
      if (limit > 0 && held >= limit) return undefined;
      open.set(caller, held + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (open.get(caller) ?? 1) - 1;
        if (left <= 0) open.delete(caller);
        else open.set(caller, left);
      };
    },
  };
}
