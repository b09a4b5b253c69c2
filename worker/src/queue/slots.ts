/** A counting semaphore: how many chunks the worker runs at once. */
export interface Slots {
  readonly size: number;
  readonly busy: number;
  /** Resolves once a slot is taken for the caller. */
  acquire(): Promise<void>;
  release(): void;
  /** Resolves when no slot is busy. */
  idle(): Promise<void>;
}

export function createSlots(size: number): Slots {
  let busy = 0;
  const waiting: Array<() => void> = [];
  let idleWaiters: Array<() => void> = [];
  return {
    size,
    get busy() {
      return busy;
    },
    acquire() {
      if (busy < size) {
        busy++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      // Hand the slot straight to a waiter, so nobody can overtake it between release and wake-up.
      if (next) return next();
      busy = Math.max(0, busy - 1);
      if (busy === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const wake of waiters) wake();
      }
    },
    idle() {
      if (busy === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
