/**
 * Chunks as published (KV `imgc-chunks`, `<job>.<index>` → `Chunk`) and the coordinator's bookkeeping about
 * each (KV `imgc-dispatch`, same key → `ChunkDispatch`: published, claimed by whom, completed, republished).
 */
import { decodeMessage, encodeMessage } from "@imgc/common";
import { type Chunk, type ChunkDispatch, ChunkDispatchSchema, ChunkSchema } from "@imgc/proto";
import type { KV } from "nats";
import { chunkKey } from "../ids.js";
import { createMessage, getMessage, snapshot, updateMessage, type Versioned } from "./kv.js";

const PUT_CONCURRENCY = 32;

export function createChunkStore(chunks: KV, dispatch: KV) {
  return {
    /** Stores a job's chunks, a few at a time in parallel. */
    async putAll(list: readonly Chunk[]): Promise<void> {
      let next = 0;
      const worker = async () => {
        while (next < list.length) {
          const chunk = list[next++] as Chunk;
          await chunks.put(chunkKey(chunk.jobId, chunk.index), encodeMessage(ChunkSchema, chunk));
        }
      };
      await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, list.length) }, worker));
    },

    async get(jobId: string, index: number): Promise<Chunk | null> {
      return (await getMessage(chunks, ChunkSchema, chunkKey(jobId, index)))?.value ?? null;
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
      return (await createMessage(dispatch, ChunkDispatchSchema, chunkKey(value.jobId, value.index), value)) !== null;
    },

    async updateDispatch(
      jobId: string,
      index: number,
      mutate: (value: ChunkDispatch) => unknown,
    ): Promise<Versioned<ChunkDispatch> | null> {
      return updateMessage(dispatch, ChunkDispatchSchema, chunkKey(jobId, index), mutate);
    },
  };
}

export type ChunkStore = ReturnType<typeof createChunkStore>;
