/**
 * Which leadership term answers now. A follower holds an idle term, whose services only read; an election
 * builds a fresh one and starts it (every open job resumed), and only a term that started and is still the
 * current one leads.
 *
 * A term that failed to start, or whose lease was lost while it started, is stopped and never answers again: a
 * follower answers GetJob from its term's open jobs, so a half-resumed term left in place would show those jobs
 * as they were when it stopped, forever.
 */
export interface Term {
  /** Takes over: resumes the jobs and starts the background work. */
  start(): Promise<void>;
  /** Stops the background work; may come while `start` still runs, and more than once. */
  stop(): Promise<void>;
}

export function createTerms<T extends Term>(createTerm: () => T) {
  let current = createTerm();
  let leading = false;
  return {
    /** The term whose services answer now. */
    get current(): T {
      return current;
    },
    /** True once an elected term has started, until it is deposed. */
    get leading(): boolean {
      return leading;
    },

    /** This process was elected: a fresh term starts; rejects (leading nothing) when it cannot. */
    async elected(): Promise<void> {
      const next = createTerm();
      current = next;
      try {
        await next.start();
      } catch (err) {
        if (current === next) current = createTerm();
        await next.stop();
        throw err;
      }
      // Deposed while starting: `deposed` put an idle term in its place; what `start` began after that stops now.
      if (current !== next) {
        await next.stop();
        return;
      }
      leading = true;
    },

    /** This process lost the lease: an idle term answers from now, and the old one stops. */
    async deposed(): Promise<void> {
      leading = false;
      const old = current;
      current = createTerm();
      await old.stop();
    },
  };
}
