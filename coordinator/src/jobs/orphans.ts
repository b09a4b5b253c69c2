/**
 * Outputs that nothing refers to, and their removal. Cancelling a job gives each item without a result its
 * CANCELLED result at once; a worker still compressing one of them stops at the cancel broadcast, but an item
 * whose output was already being written finishes and is reported, too late. Its output would sit in the job's
 * prefix with no result naming it: the coordinator removes it when it refuses that report. A worker that died
 * between writing an output and reporting it leaves its chunk to be delivered again: the claim of that later
 * delivery, answered "cancelled", sweeps the chunk's items' keys the same way.
 *
 * An output is kept when its item's stored result is DONE or KEPT_ORIGINAL with that very key (the item was
 * finished before the cancel, and a retried report named it again).
 */
import type { Logger, Storage } from "@imgc/common";
import { type Chunk, type ItemResult, ItemState } from "@imgc/proto";
import type { ResultStore } from "./result-store.js";

export interface OrphanDeps {
  results: Pick<ResultStore, "many">;
  storage: Pick<Storage, "bucket" | "list" | "remove">;
  log: Logger;
}

interface Candidate {
  itemId: string;
  key: string;
}

const delivers = (result: ItemResult) => result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL;

export function createOrphans(deps: OrphanDeps) {
  const { storage, log } = deps;

  /** Removes the candidates no stored result refers to; returns how many. */
  async function remove(jobId: string, bucket: string, candidates: readonly Candidate[]): Promise<number> {
    if (candidates.length === 0) return 0;
    const stored = await deps.results.many(jobId, [...new Set(candidates.map((c) => c.itemId))]);
    const orphans = candidates.filter((candidate) => {
      const result = stored.get(candidate.itemId);
      return !(result && delivers(result) && result.outputKey === candidate.key);
    });
    // Best effort: a failed removal is logged (the object stays, under the job's prefix, for DeleteJob).
    const removed = await Promise.all(
      orphans.map((orphan) =>
        storage.remove(orphan.key, bucket).then(
          () => true,
          (err: unknown) => {
            log.warn({ err: String(err), jobId, key: orphan.key }, "could not remove an orphan output");
            return false;
          },
        ),
      ),
    );
    const count = removed.filter(Boolean).length;
    if (count > 0) log.info({ jobId, removed: count }, "removed outputs of a cancelled job that no result names");
    return count;
  }

  return {
    /** The outputs named by results a cancelled job refused. */
    refused(chunk: Chunk, list: readonly ItemResult[]): Promise<number> {
      const candidates = list
        .filter((r) => delivers(r) && r.outputKey)
        .map((r) => ({ itemId: r.itemId, key: r.outputKey }));
      return remove(chunk.jobId, chunk.outputBucket || storage.bucket, candidates);
    },

    /** Whatever an earlier delivery of a cancelled job's chunk may have written under its items' keys. */
    async sweep(chunk: Chunk): Promise<number> {
      const bucket = chunk.outputBucket || storage.bucket;
      const candidates: Candidate[] = [];
      for (const item of chunk.items) {
        for await (const object of storage.list(`${chunk.outputPrefix}${item.itemId}.`, bucket)) {
          candidates.push({ itemId: item.itemId, key: object.key });
        }
      }
      return remove(chunk.jobId, bucket, candidates);
    },
  };
}

export type Orphans = ReturnType<typeof createOrphans>;
