/**
 * Chunks as published (KV `imgc-chunks`, `<job>.<index>` → `Chunk`) and the coordinator's bookkeeping about
 * each (KV `imgc-dispatch`, same key → `ChunkDispatch`: published, claimed by whom, completed, republished).
 */
import { decodeMessage, encodeMessage, pool } from "@imgc/common";
import { type Chunk, type ChunkDispatch, ChunkDispatchSchema, ChunkSchema } from "@imgc/proto";
import type { KV } from "nats";
import { chunkKey } from "../ids.js";
import { type Fence, unfenced } from "../leadership/fence.js";
import { createMessage, getMessage, snapshot, updateMessage, type Versioned } from "./kv.js";

const PUT_CONCURRENCY = 32;
/** Chunks kept in memory (they never change once written): claims and reports read them without NATS. */
const CACHE_MAX = 20_000;

export function createChunkStore(chunks: KV, dispatch: KV, fence: Fence = unfenced) {
  const cache = new Map<string, Chunk>();
  /** The dispatch records as this process last wrote them: the next write needs no read. */
  const written = new Map<string, Versioned<ChunkDispatch>>();
  /**
   * Dispatch records being created. A chunk is on the stream before its record is written (so that a crash
   * between the two publishes it again, deduplicated by its message id), so a worker can claim it while the
   * record is still on its way: the claim's update waits for it, or it would find no record, and the record
   * written next would say "unclaimed".
   */
  const creating = new Map<string, Promise<unknown>>();

  function keep<K, V>(map: Map<K, V>, key: K, value: V): void {
    if (map.size >= CACHE_MAX) map.delete(map.keys().next().value as K);
    map.set(key, value);
  }

  return {
    /** Stores a job's chunks, a few at a time in parallel. */
    async putAll(list: readonly Chunk[]): Promise<void> {
      fence.check();
      await pool(list, PUT_CONCURRENCY, async (chunk) => {
        const key = chunkKey(chunk.jobId, chunk.index);
        await chunks.put(key, encodeMessage(ChunkSchema, chunk));
        keep(cache, key, chunk);
      });
    },

    async get(jobId: string, index: number): Promise<Chunk | null> {
      const key = chunkKey(jobId, index);
      const cached = cache.get(key);
      if (cached) return cached;
      const chunk = (await getMessage(chunks, ChunkSchema, key))?.value ?? null;
      if (chunk) keep(cache, key, chunk);
      return chunk;
    },

    /** Forgets a job's chunks (it ended). */
    forget(jobId: string, count: number): void {
      for (let index = 0; index < count; index++) {
        cache.delete(chunkKey(jobId, index));
        written.delete(chunkKey(jobId, index));
      }
    },

    /** Every chunk of the job, in index order. */
    async all(jobId: string): Promise<Chunk[]> {
      const list = (await snapshot(chunks, `${jobId}.>`)).map((entry) => decodeMessage(ChunkSchema, entry.value));
      return list.sort((a, b) => a.index - b.index);
    },

    async getDispatch(jobId: string, index: number): Promise<Versioned<ChunkDispatch> | null> {
      return getMessage(dispatch, ChunkDispatchSchema, chunkKey(jobId, index));
    },

    async allDispatch(jobId: string): Promise<Map<number, ChunkDispatch>> {
      const list = (await snapshot(dispatch, `${jobId}.>`)).map((entry) =>
        decodeMessage(ChunkDispatchSchema, entry.value),
      );
      return new Map(list.map((entry) => [entry.index, entry]));
    },

    /** Records that a chunk is on the task stream; false when it already was. */
    async createDispatch(value: ChunkDispatch): Promise<boolean> {
      fence.check();
      const key = chunkKey(value.jobId, value.index);
      const created = createMessage(dispatch, ChunkDispatchSchema, key, value);
      creating.set(key, created);
      let revision: number | null;
      try {
        revision = await created;
      } finally {
        if (creating.get(key) === created) creating.delete(key);
      }
      if (revision === null) return false;
      keep(written, key, { value, revision });
      return true;
    },

    /** Compare-and-set; from the record this process last wrote when it has one (one round trip, no read). */
    async updateDispatch(
      jobId: string,
      index: number,
      mutate: (value: ChunkDispatch) => unknown,
    ): Promise<Versioned<ChunkDispatch> | null> {
      const key = chunkKey(jobId, index);
      await creating.get(key)?.catch(() => undefined);
      const updated = await updateMessage(
        dispatch,
        ChunkDispatchSchema,
        key,
        (value) => {
          if (mutate(value) === false) return false;
          fence.check();
        },
        written.get(key),
      );
      if (updated) keep(written, key, updated);
      return updated;
    },
  };
}

export type ChunkStore = ReturnType<typeof createChunkStore>;
