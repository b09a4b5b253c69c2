/** Per-key async mutex: updates of one job run one after another, updates of different jobs in parallel. */
export function createLocks() {
  const tails = new Map<string, Promise<unknown>>();
  return async function withLock<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const current = previous.then(run, run);
    const tail = current.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

export type WithLock = ReturnType<typeof createLocks>;
