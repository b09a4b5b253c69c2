import { Code } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { createRateLimiter, RateLimitError } from "./rate-limit.js";

function refused(run: () => void): RateLimitError | undefined {
  try {
    run();
  } catch (err) {
    if (RateLimitError.is(err)) return err;
    throw err;
  }
  return undefined;
}

describe("token bucket", () => {
  test("admits a burst, then one request per 1/rate seconds, each caller on its own bucket", () => {
    let now = 0;
    const admit = createRateLimiter({ perSecond: 2, burst: 3 }, () => now);
    for (let i = 0; i < 3; i++) expect(refused(() => admit("a"))).toBeUndefined();
    const err = refused(() => admit("a"));
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.retryAfterSeconds).toBe(1);
    expect(err?.metadata.get("retry-after")).toBe("1");
    expect(err?.rawMessage).toBe("rate limit exceeded (2 requests per second, bursts of 3); retry in 1 s");
    // Another caller still has its whole burst.
    expect(refused(() => admit("b"))).toBeUndefined();
    now += 500;
    expect(refused(() => admit("a"))).toBeUndefined();
    expect(refused(() => admit("a"))).toBeDefined();
    // A long quiet spell refills the bucket to the burst, no more.
    now += 60_000;
    for (let i = 0; i < 3; i++) expect(refused(() => admit("a"))).toBeUndefined();
    expect(refused(() => admit("a"))).toBeDefined();
  });

  test("Retry-After rounds up to whole seconds at a slow rate", () => {
    const admit = createRateLimiter({ perSecond: 0.25, burst: 1 }, () => 0);
    admit("a");
    expect(refused(() => admit("a"))?.retryAfterSeconds).toBe(4);
  });

  test("a rate or a burst of 0 disables the limit", () => {
    for (const limit of [
      { perSecond: 0, burst: 100 },
      { perSecond: 50, burst: 0 },
    ]) {
      const admit = createRateLimiter(limit, () => 0);
      for (let i = 0; i < 1000; i++) admit("a");
    }
  });

  test("RateLimitError.is tells it from any other ConnectError", async () => {
    const { ConnectError } = await import("@connectrpc/connect");
    expect(RateLimitError.is(new ConnectError("too big", Code.ResourceExhausted))).toBe(false);
    expect(RateLimitError.is(new RateLimitError(1, { perSecond: 1, burst: 1 }))).toBe(true);
  });
});
