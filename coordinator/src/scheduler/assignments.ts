/**
 * Who runs which chunk. Workers claim chunks they pulled and complete (or release) them; the coordinator
 * records each claim in the chunk's dispatch record, so that when a worker is gone its unfinished chunks are
 * republished at once, and a chunk the stream gave up on (max deliveries) fails the items still without a
 * result.
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { type Logger, laneOf } from "@imgc/common";
import { type Chunk, ErrorCode, ItemResultSchema, ItemState, JobState } from "@imgc/proto";
import { chunkKey } from "../ids.js";
import type { ChunkStore } from "../jobs/chunk-store.js";
import type { Lifecycle } from "../jobs/lifecycle.js";
import type { Dispatcher } from "./dispatcher.js";

export interface AssignmentDeps {
  lifecycle: Lifecycle;
  chunks: ChunkStore;
  dispatcher: Dispatcher;
  log: Logger;
  /** How many times a chunk may be republished after its worker died before its items fail. */
  maxRepublish: number;
}

export interface Claim {
  pending: string[];
  cancelled: boolean;
}

function parseChunkKey(key: string): { jobId: string; index: number } | null {
  const match = /^([A-Za-z0-9_-]+)\.(\d+)$/.exec(key);
  return match ? { jobId: match[1] as string, index: Number(match[2]) } : null;
}

export function createAssignments(deps: AssignmentDeps) {
  const { lifecycle, chunks, dispatcher, log } = deps;
  /** Worker id → the chunks ("<job>.<index>") it claimed and has not completed. */
  const held = new Map<string, Set<string>>();
  /** Worker id → when it last claimed a chunk. */
  const lastClaim = new Map<string, number>();

  function hold(workerId: string, key: string): void {
    const set = held.get(workerId) ?? new Set<string>();
    set.add(key);
    held.set(workerId, set);
    lastClaim.set(workerId, Date.now());
  }

  function drop(workerId: string, key: string): void {
    const set = held.get(workerId);
    set?.delete(key);
    if (set?.size === 0) {
      held.delete(workerId);
      lastClaim.delete(workerId);
    }
  }

  /** The chunk's items still without a result of its kind of work. */
  function pendingOf(chunk: Chunk): string[] {
    const ledger = lifecycle.ledger(chunk.jobId);
    if (!ledger) return [];
    return chunk.items.map((item) => item.itemId).filter((id) => !ledger.hasTask(id, chunk.kind));
  }

  async function failPending(chunk: Chunk, message: string): Promise<number> {
    const pending = new Set(pendingOf(chunk));
    const failures = chunk.items
      .filter((item) => pending.has(item.itemId))
      .map((item) =>
        create(ItemResultSchema, {
          itemId: item.itemId,
          sourceKey: item.key,
          state: ItemState.FAILED,
          errorCode: ErrorCode.INTERNAL,
          errorMessage: message,
        }),
      );
    await chunks.updateDispatch(chunk.jobId, chunk.index, (dispatch) => {
      dispatch.completed = true;
      dispatch.workerId = "";
    });
    lifecycle.released(chunk.jobId, chunk.index);
    if (failures.length > 0) await lifecycle.record(chunk.jobId, failures, chunk.kind);
    return failures.length;
  }

  return {
    /** A worker took a chunk: the items still without a result, or "cancelled"; null for an unknown job or chunk. */
    async claim(workerId: string, jobId: string, index: number): Promise<Claim | null> {
      const job = lifecycle.peek(jobId) ?? (await lifecycle.get(jobId));
      if (!job) return null;
      if (job.state === JobState.CANCELLED) return { pending: [], cancelled: true };
      const chunk = await chunks.get(jobId, index);
      if (!chunk) return null;
      // A chunk left the lane: the next one in line takes its place.
      dispatcher.pump(laneOf(job.priority), chunk.kind);
      const pending = pendingOf(chunk);
      if (pending.length === 0) return { pending, cancelled: false };
      const key = chunkKey(jobId, index);
      await chunks.updateDispatch(jobId, index, (dispatch) => {
        if (dispatch.workerId && dispatch.workerId !== workerId) drop(dispatch.workerId, key);
        dispatch.workerId = workerId;
        dispatch.claimedAt = timestampNow();
        dispatch.completed = false;
      });
      hold(workerId, key);
      await lifecycle.started(jobId, index, pending);
      // A worker runs a chunk's items one after another: the first starts now (the others are announced with
      // the result before them, see the worker's report batch).
      const first = chunk.items.find((item) => item.itemId === pending[0]);
      if (first) await lifecycle.running(jobId, workerId, [first.itemId], () => first.key, chunk.kind);
      return { pending, cancelled: false };
    },

    /** A worker finished a chunk, or gave it back unfinished (`released`: the stream redelivers it). */
    async complete(workerId: string, jobId: string, index: number, released: boolean): Promise<void> {
      const key = chunkKey(jobId, index);
      drop(workerId, key);
      if (!lifecycle.isOpen(jobId)) return;
      if (released) {
        await chunks.updateDispatch(jobId, index, (dispatch) => {
          if (dispatch.workerId !== workerId) return false;
          dispatch.workerId = "";
        });
        lifecycle.released(jobId, index);
        return;
      }
      const chunk = await chunks.get(jobId, index);
      if (!chunk) return;
      if (lifecycle.isCancelled(jobId)) {
        lifecycle.released(jobId, index);
        return;
      }
      const failed = await failPending(chunk, "the worker completed its chunk without a result for this item");
      if (failed > 0) log.warn({ workerId, jobId, index, failed }, "chunk completed with items unreported");
    },

    /** Registers a claim found in KV at start (the worker may still be running it). */
    adopt(workerId: string, jobId: string, index: number, itemIds: readonly string[]): void {
      hold(workerId, chunkKey(jobId, index));
      lifecycle.ledger(jobId)?.claim(index, itemIds);
    },

    /**
     * Workers that hold chunks but have no heartbeat (it lapsed before their claim, or never came): gone, once
     * their last claim is older than `graceMs`.
     */
    strays(isLive: (workerId: string) => boolean, graceMs: number): string[] {
      const limit = Date.now() - graceMs;
      return [...held.keys()].filter((id) => !isLive(id) && (lastClaim.get(id) ?? 0) < limit);
    },

    /** True when the worker claimed the chunk and has not completed or lost it. */
    holds(workerId: string, jobId: string, index: number): boolean {
      return held.get(workerId)?.has(chunkKey(jobId, index)) ?? false;
    },

    heldBy(workerId: string): string[] {
      return [...(held.get(workerId) ?? [])];
    },

    workersHolding(): string[] {
      return [...held.keys()];
    },

    /**
     * A worker is gone: each chunk it held and did not complete goes back on the stream at once (instead of
     * after AckWait), or, past `maxRepublish`, its items without a result fail. With `claimedBefore` (ms), the
     * worker restarted under the same id: only chunks claimed before then are lost.
     */
    async workerGone(workerId: string, alsoRunning: readonly string[] = [], claimedBefore?: number): Promise<void> {
      const keys = new Set([...(held.get(workerId) ?? []), ...alsoRunning]);
      if (claimedBefore === undefined) {
        held.delete(workerId);
        lastClaim.delete(workerId);
      }
      for (const key of keys) {
        const parsed = parseChunkKey(key);
        if (!parsed || !lifecycle.isOpen(parsed.jobId)) continue;
        try {
          const [chunk, dispatch, job] = await Promise.all([
            chunks.get(parsed.jobId, parsed.index),
            chunks.getDispatch(parsed.jobId, parsed.index),
            lifecycle.get(parsed.jobId),
          ]);
          if (!chunk || !dispatch || !job || dispatch.value.completed || dispatch.value.workerId !== workerId) continue;
          // A restarted worker (same id) lost only what it claimed before it restarted.
          const claimedAt = dispatch.value.claimedAt ? timestampMs(dispatch.value.claimedAt) : 0;
          if (claimedBefore !== undefined && claimedAt >= claimedBefore) continue;
          drop(workerId, key);
          lifecycle.released(parsed.jobId, parsed.index);
          if (job.state === JobState.CANCELLED || pendingOf(chunk).length === 0) continue;
          if (dispatch.value.republished >= deps.maxRepublish) {
            const failed = await failPending(
              chunk,
              `gave up after ${dispatch.value.republished + 1} workers stopped while running this item's chunk`,
            );
            log.warn({ workerId, jobId: parsed.jobId, index: parsed.index, failed }, "chunk given up");
            continue;
          }
          const n = await dispatcher.republish(chunk, laneOf(job.priority), workerId);
          log.info({ workerId, jobId: parsed.jobId, index: parsed.index, republish: n }, "chunk republished");
        } catch (err) {
          // The original message is still unacked: AckWait redelivers it if this republish did not happen.
          log.error({ err, workerId, key }, "could not republish a dead worker's chunk");
        }
      }
    },

    /** The stream delivered a chunk MaxDeliver times: its items without a result fail. */
    async deadLetter(chunk: Chunk, deliveries: number): Promise<number> {
      if (!lifecycle.isOpen(chunk.jobId)) return 0;
      const job = await lifecycle.get(chunk.jobId);
      if (!job || job.state === JobState.CANCELLED) return 0;
      return failPending(chunk, `gave up after ${deliveries} deliveries`);
    },
  };
}

export type Assignments = ReturnType<typeof createAssignments>;
