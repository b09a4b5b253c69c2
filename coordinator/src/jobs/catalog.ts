/**
 * Every item of a job as its chunks list them (source key and size by item id), whether it has a result or not:
 * callers stand in for the missing results with them. Kept for the few most recently read jobs: paging through
 * GetResults reads the chunks once.
 */
import { create } from "@bufbuild/protobuf";
import { keys } from "@imgc/common";
import { type ChunkItem, type ItemResult, ItemResultSchema, ItemState } from "@imgc/proto";
import type { ChunkStore } from "./chunk-store.js";

const CACHED_JOBS = 16;

export function createCatalog(chunks: ChunkStore) {
  const cache = new Map<string, Map<string, ChunkItem>>();

  async function items(jobId: string): Promise<Map<string, ChunkItem>> {
    const hit = cache.get(jobId);
    if (hit) {
      cache.delete(jobId);
      cache.set(jobId, hit);
      return hit;
    }
    const found = new Map<string, ChunkItem>();
    for (const chunk of await chunks.all(jobId)) for (const item of chunk.items) found.set(item.itemId, item);
    cache.set(jobId, found);
    if (cache.size > CACHED_JOBS) cache.delete(cache.keys().next().value as string);
    return found;
  }

  return {
    items,
    /** Every item the job's chunks hold, each as a PENDING result (whether or not it has a result already). */
    async allAsPending(jobId: string): Promise<ItemResult[]> {
      return [...(await items(jobId)).values()].map((item) => pendingResult(item));
    },
  };
}

/**
 * Whether an item's original is an upload of `tenant` in the cluster's `bucket`: an original the cluster may hand
 * back or remove. A URL source is the caller's own, and another bucket's objects were never the cluster's.
 */
export function isOwnUpload(tenant: string, item: ChunkItem, bucket: string): boolean {
  return (item.bucket === "" || item.bucket === bucket) && item.key.startsWith(keys.uploadPrefix(tenant));
}

export function pendingResult(item: ChunkItem, state = ItemState.PENDING): ItemResult {
  return create(ItemResultSchema, { itemId: item.itemId, sourceKey: item.key, inputBytes: item.size, state });
}

export type Catalog = ReturnType<typeof createCatalog>;
