import { describe, expect, test } from "vitest";
import { AbortedError, retry, sleep } from "./retry.js";

/** A run that fails `failures` times with `error`, then answers "ok"; and when each attempt started. */
function flaky(failures: number, error: unknown = new Error("flaky")) {
  const at: number[] = [];
  const run = async (attempt: number) => {
    at.push(Date.now());
    if (attempt <= failures) throw error;
    return "ok";
  };
  return { run, at };
}

describe("retry", () => {
  test("tries again after doubling delays, each at least the nominal one and at most half again", async () => {
    const { run, at } = flaky(3);
    const waits: number[] = [];
    const result = await retry(run, {
      retryable: () => true,
      firstDelayMs: 20,
      onRetry: (_err, _attempt, delayMs) => waits.push(delayMs),
    });
    expect(result).toBe("ok");
    expect(at).toHaveLength(4);
    [20, 40, 80].forEach((nominal, i) => {
      expect(waits[i]).toBeGreaterThanOrEqual(nominal);
      expect(waits[i]).toBeLessThanOrEqual(nominal * 1.5);
      // Timers may fire a millisecond early.
      expect((at[i + 1] as number) - (at[i] as number)).toBeGreaterThanOrEqual(nominal - 2);
    });
  });

  test("a failure that is not retryable is thrown at once; so is the last after `attempts`", async () => {
    const fatal = new Error("fatal");
    const once = flaky(5, fatal);
    await expect(retry(once.run, { retryable: (err) => err !== fatal, firstDelayMs: 1 })).rejects.toBe(fatal);
    expect(once.at).toHaveLength(1);

    const thrice = flaky(5);
    const asked: number[] = [];
    const retryable = (_err: unknown, attempt: number) => asked.push(attempt) > 0;
    await expect(retry(thrice.run, { retryable, attempts: 3, firstDelayMs: 1 })).rejects.toThrow("flaky");
    expect(thrice.at).toHaveLength(3);
    expect(asked).toEqual([1, 2, 3]);
  });

  test("the budget caps the time spent: no attempt starts past it", async () => {
    const { run, at } = flaky(100);
    const started = Date.now();
    await expect(retry(run, { retryable: () => true, budgetMs: 150, firstDelayMs: 20 })).rejects.toThrow("flaky");
    expect((at.at(-1) as number) - started).toBeLessThanOrEqual(170);
    expect(at.length).toBeGreaterThanOrEqual(3);
  });

  test("an abort ends the wait at once with AbortedError", async () => {
    const controller = new AbortController();
    const { run, at } = flaky(100);
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    const failure = await retry(run, { retryable: () => true, firstDelayMs: 10_000, signal: controller.signal }).catch(
      (err: unknown) => err,
    );
    expect(AbortedError.is(failure)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(at).toHaveLength(1);
  });
});

describe("sleep", () => {
  test("waits, or rejects as soon as its signal aborts (at once when it already has)", async () => {
    const started = Date.now();
    await sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(28);
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortedError);
    const controller = new AbortController();
    const slept = sleep(10_000, controller.signal);
    controller.abort();
    await expect(slept).rejects.toBeInstanceOf(AbortedError);
  });
});
