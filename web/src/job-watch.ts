/**
 * Follows a job over WatchJob and survives network loss: each event's sequence is remembered, and after an
 * error the stream is opened again with after_sequence = the last one seen, so nothing is missed or repeated.
 * The stream's normal end means the job ended and every event was sent; an end before the job reached a
 * terminal state (a gateway restarting gracefully, say) is treated like a drop.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { isTerminalJobState, type JobEvent } from "@imgc/proto";
import type { JobClient } from "./api.js";
import { isOffline } from "./error-message.js";

export type WatchStatus =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "reconnecting"; attempt: number; reason: string }
  | { kind: "offline" }
  | { kind: "ended" };

export interface WatchHandlers {
  event(event: JobEvent): void;
  status(status: WatchStatus): void;
}

export interface WatchOptions {
  afterSequence?: bigint;
  /** The wait before reconnect attempt n (1-based). */
  backoffMs?: (attempt: number) => number;
  /** Where online/offline events come from: window in the browser. */
  network?: Pick<EventTarget, "addEventListener" | "removeEventListener">;
  /** Whether the device believes it is online: navigator.onLine in the browser. */
  isOnline?: () => boolean;
}

/** Errors that another attempt cannot fix. */
const fatalCodes = new Set([
  Code.NotFound,
  Code.InvalidArgument,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
]);

const defaultBackoff = (attempt: number) => Math.min(10_000, 500 * 2 ** (attempt - 1));

/**
 * Resolves when the job has ended and its last event was delivered, or when `signal` aborts; rejects only with
 * an error that retrying cannot fix (the job does not exist, say).
 */
export async function watchJob(
  jobs: JobClient,
  jobId: string,
  handlers: WatchHandlers,
  signal: AbortSignal,
  options: WatchOptions = {},
): Promise<void> {
  const backoff = options.backoffMs ?? defaultBackoff;
  const network = options.network ?? (typeof window === "undefined" ? undefined : window);
  const isOnline = options.isOnline ?? (() => !isOffline());
  let after = options.afterSequence ?? 0n;
  let ended = false;
  let attempt = 0;

  while (!signal.aborted) {
    // One attempt's own signal: going offline aborts it at once rather than waiting for a dead socket to time out.
    const attemptAbort = new AbortController();
    const stop = () => attemptAbort.abort();
    signal.addEventListener("abort", stop, { once: true });
    network?.addEventListener("offline", stop);
    try {
      handlers.status(attempt === 0 ? { kind: "connecting" } : { kind: "reconnecting", attempt, reason: "" });
      const stream = jobs.watchJob({ jobId, afterSequence: after }, { signal: attemptAbort.signal });
      let announced = false;
      for await (const { event } of stream) {
        if (!announced) {
          handlers.status({ kind: "live" });
          announced = true;
        }
        attempt = 0;
        if (!event || event.sequence <= after) continue;
        after = event.sequence;
        if (event.kind.case === "job" && isTerminalJobState(event.kind.value.state)) ended = true;
        handlers.event(event);
      }
      if (ended) {
        handlers.status({ kind: "ended" });
        return;
      }
      if (!announced) handlers.status({ kind: "live" });
      throw new ConnectError("the event stream closed before the job ended", Code.Unavailable);
    } catch (err) {
      if (signal.aborted) return;
      const error = ConnectError.from(err);
      if (fatalCodes.has(error.code)) throw error;
      attempt++;
      if (network && !isOnline()) {
        handlers.status({ kind: "offline" });
        await waitForOnline(network, signal);
      } else {
        handlers.status({ kind: "reconnecting", attempt, reason: error.rawMessage });
        await sleep(backoff(attempt), signal, network);
      }
    } finally {
      signal.removeEventListener("abort", stop);
      network?.removeEventListener("offline", stop);
    }
  }
}

function waitForOnline(network: NonNullable<WatchOptions["network"]>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      network.removeEventListener("online", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    network.addEventListener("online", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Waits `ms`, cut short by the network coming back (no point waiting longer) or by an abort. */
function sleep(ms: number, signal: AbortSignal, network: WatchOptions["network"]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      network?.removeEventListener("online", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    network?.addEventListener("online", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
