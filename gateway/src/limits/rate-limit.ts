/**
 * A token bucket per caller (per API key; per tenant in dev mode, where there are no keys): `burst` tokens
 * at most, refilled at `perSecond`. Every request takes one token when it starts, so a long WatchJob stream
 * or upload counts once. The buckets live in memory, one per configured key, so the map stays bounded:
 * callers are rate-limited only after they authenticated.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export interface RateLimit {
  /** Tokens added per second; 0 disables the limit. */
  perSecond: number;
  /** The bucket's size: how many requests may come at once after a quiet spell; 0 disables the limit. */
  burst: number;
}

/** Over the limit: ResourceExhausted for RPCs, HTTP 429 with Retry-After for plain routes. */
export class RateLimitError extends ConnectError {
  // Keeps ConnectError's name: Connect recognises its errors by name and shape, and would turn one named
  // otherwise into Internal.
  constructor(
    /** Whole seconds until a request would be admitted again (at least 1). */
    readonly retryAfterSeconds: number,
    limit: RateLimit,
  ) {
    super(
      `rate limit exceeded (${limit.perSecond} requests per second, bursts of ${limit.burst}); retry in ${retryAfterSeconds} s`,
      Code.ResourceExhausted,
      { "retry-after": String(retryAfterSeconds) },
    );
  }

  // Not `instanceof`: ConnectError answers it for any ConnectError (it matches across copies of the package).
  static is(err: unknown): err is RateLimitError {
    return err instanceof ConnectError && typeof (err as Partial<RateLimitError>).retryAfterSeconds === "number";
  }
}

/** Takes a token for `caller` or throws RateLimitError. A no-op when the limit is disabled. */
export type Admit = (caller: string) => void;

export function createRateLimiter(limit: RateLimit, now: () => number = () => performance.now()): Admit {
  if (limit.perSecond <= 0 || limit.burst <= 0) return () => {};
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (caller) => {
    const time = now();
    const bucket = buckets.get(caller) ?? { tokens: limit.burst, at: time };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((time - bucket.at) / 1000) * limit.perSecond);
    bucket.at = time;
    buckets.set(caller, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    throw new RateLimitError(Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond)), limit);
  };
}
