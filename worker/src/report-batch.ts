/**
 * A chunk's reports, batched. Results and item starts are queued as they happen and sent together: while one
 * ReportItems call is in flight, whatever comes meanwhile waits for the next, so a fast chunk costs a few calls
 * however many items it has, and a slow one reports each item as soon as it is done. `close` sends what is left
 * with `complete`, which ends the chunk in the same call.
 */
import type { Chunk, ItemResult } from "@imgc/proto";
import type { CoordinatorClient } from "./coordinator-client.js";

export interface ReportBatch {
  /** The item is being worked on now. */
  started(itemId: string): void;
  add(result: ItemResult): void;
  /** The coordinator said the job was cancelled. */
  readonly cancelled: boolean;
  /** Sends the rest and completes the chunk; throws what a send failed with (the chunk is then deferred). */
  close(): Promise<void>;
}

/** `onCancelled`: called once, as soon as an answer says the job was cancelled. */
export function createReportBatch(
  coordinator: CoordinatorClient,
  chunk: Chunk,
  signal?: AbortSignal,
  onCancelled?: () => void,
): ReportBatch {
  let started: string[] = [];
  let results: ItemResult[] = [];
  let cancelled = false;
  let failure: unknown;
  let sending: Promise<void> | undefined;

  async function send(complete: boolean): Promise<void> {
    const batch = { started, results, complete };
    started = [];
    results = [];
    const answer = await coordinator.reportMany(chunk, batch, signal);
    if (answer.cancelled && !cancelled) {
      cancelled = true;
      onCancelled?.();
    }
  }

  function kick(): void {
    if (sending || failure !== undefined) return;
    sending = (async () => {
      try {
        while (results.length > 0 || started.length > 0) await send(false);
      } catch (err) {
        failure = err;
      } finally {
        sending = undefined;
      }
    })();
  }

  return {
    started(itemId) {
      started.push(itemId);
    },
    add(result) {
      results.push(result);
      // A start goes with the next result (it happens at the same moment), so it never costs a call of its own.
      kick();
    },
    get cancelled() {
      return cancelled;
    },
    async close() {
      while (sending) await sending;
      if (failure !== undefined) throw failure;
      await send(true);
    },
  };
}
