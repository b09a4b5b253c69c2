/**
 * A Connect transport over several coordinators that finds the leader by itself.
 *
 * Calls go to the coordinator that answered last. A coordinator that is not the leader refuses a write with
 * Unavailable and the leader's address in `x-imgc-leader`: the call is sent there at once. A coordinator that
 * cannot be reached (or has no leader to name yet) is skipped for the next one, with a short backoff, until
 * `failoverMs` has passed — long enough to cover a leader's lease running out and a follower taking over, so a
 * caller sees a pause, not an error. Unary calls are retried; a stream that fails is not (its caller resumes it,
 * as WatchJob's after_sequence allows), but the next call goes elsewhere.
 */
import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type Transport } from "@connectrpc/connect";
import { sleep } from "./retry.js";

/** The metadata (gRPC trailer, Connect header) with which a follower names the leader's host:port. */
export const LEADER_HEADER = "x-imgc-leader";

export interface FailoverOptions {
  /** host:port of each coordinator (or one DNS name that resolves to all of them). */
  addresses: readonly string[];
  /** Makes the transport for one address. */
  transportFor(address: string): Transport;
  /** How long one call may keep looking for a leader (default 15 s). */
  failoverMs?: number;
  /** Told each time the calls move to another coordinator. */
  onSwitch?(from: string, to: string, reason: string): void;
}

/** A coordinator address list: comma-separated host:port entries, blanks dropped. */
export function parseAddresses(raw: string): string[] {
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}

/**
 * What a refusal says of the leader: its address; "" from a coordinator that is up but knows no leader yet (one
 * is being elected: ask it again); undefined when the failure is not a coordinator's refusal at all.
 */
export function leaderHint(err: unknown): string | undefined {
  if (!(err instanceof ConnectError) || err.code !== Code.Unavailable) return undefined;
  return err.metadata.get(LEADER_HEADER) ?? undefined;
}

/**
 * Which coordinator calls go to now. `moveOn` after a failed call: to the leader the refusal named, or to the
 * next address; false when the failure is not one that another coordinator could answer.
 */
export function createLeaderTracker(
  list: readonly string[],
  onSwitch?: (from: string, to: string, reason: string) => void,
) {
  if (list.length === 0) throw new Error("Expected at least one coordinator address but received none");
  const addresses = [...list];
  let current = addresses[0] as string;
  return {
    get current(): string {
      return current;
    },
    moveOn(from: string, err: unknown): boolean {
      // Unavailable: down, or not the leader. DeadlineExceeded: up but not answering (frozen, partitioned).
      if (!(err instanceof ConnectError) || (err.code !== Code.Unavailable && err.code !== Code.DeadlineExceeded)) {
        return false;
      }
      if (current !== from) return true; // another call moved already
      const hint = leaderHint(err);
      let next: string;
      if (hint) {
        if (!addresses.includes(hint)) addresses.push(hint);
        next = hint;
      } else if (hint === "") {
        // A live follower during an election: it will name the leader (or be it) within a lease.
        next = from;
      } else {
        next = addresses[(addresses.indexOf(from) + 1) % addresses.length] as string;
      }
      if (next !== from) onSwitch?.(from, next, err.rawMessage);
      current = next;
      return true;
    },
  };
}

export function createFailoverTransport(options: FailoverOptions): Transport & { readonly current: string } {
  const failoverMs = options.failoverMs ?? 15_000;
  const tracker = createLeaderTracker(options.addresses, options.onSwitch);
  const transports = new Map<string, Transport>();
  const transport = (address: string) => {
    let found = transports.get(address);
    if (!found) {
      found = options.transportFor(address);
      transports.set(address, found);
    }
    return found;
  };
  const moveOn = tracker.moveOn;

  return {
    get current() {
      return tracker.current;
    },

    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: Headers | Record<string, string> | [string, string][] | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ) {
      const deadline = Date.now() + failoverMs;
      for (let attempt = 0; ; attempt++) {
        const target = tracker.current;
        try {
          return await transport(target).unary(method, signal, timeoutMs, header, input, contextValues);
        } catch (err) {
          if (!moveOn(target, err) || Date.now() >= deadline || signal?.aborted) throw err;
          // Straight to a named leader; otherwise a short pause, so a ring of dead coordinators is not spun.
          if (!leaderHint(err)) await sleep(Math.min(1_000, 50 * 2 ** Math.min(attempt, 5)), signal).catch(() => {});
        }
      }
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: Headers | Record<string, string> | [string, string][] | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ) {
      const target = tracker.current;
      try {
        const response = await transport(target).stream(method, signal, timeoutMs, header, input, contextValues);
        const messages = response.message;
        return {
          ...response,
          message: (async function* () {
            try {
              yield* messages;
            } catch (err) {
              moveOn(target, err);
              throw err;
            }
          })(),
        };
      } catch (err) {
        moveOn(target, err);
        throw err;
      }
    },
  };
}
