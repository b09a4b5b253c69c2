/**
 * Puts chunks on the task stream. A first publish carries `Nats-Msg-Id = <job>.<index>` (a retried publish
 * is dropped by the stream) and is then recorded in KV `imgc-dispatch`; a republish (its worker died) carries
 * `<job>.<index>.<n>` with n counted in the dispatch record, so it is never mistaken for a duplicate.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { encodeMessage, type LaneName, TRACEPARENT, taskSubject } from "@imgc/common";
import { type Chunk, ChunkDispatchSchema, ChunkSchema } from "@imgc/proto";
import { headers, type JetStreamClient, type MsgHdrs } from "nats";
import type { ChunkStore } from "../jobs/chunk-store.js";

const PUBLISH_CONCURRENCY = 64;

/** The job's trace context travels in a header too, so a worker can log it before decoding anything. */
function traceHeaders(chunk: Chunk): { headers?: MsgHdrs } {
  if (!chunk.traceParent) return {};
  const h = headers();
  h.set(TRACEPARENT, chunk.traceParent);
  return { headers: h };
}

export function createDispatcher(js: JetStreamClient, chunks: ChunkStore, observer?: { republished(): void }) {
  async function publishOne(chunk: Chunk, lane: LaneName): Promise<void> {
    await js.publish(taskSubject(lane), encodeMessage(ChunkSchema, chunk), {
      msgID: `${chunk.jobId}.${chunk.index}`,
      ...traceHeaders(chunk),
    });
    await chunks.createDispatch(
      create(ChunkDispatchSchema, { jobId: chunk.jobId, index: chunk.index, publishedAt: timestampNow() }),
    );
  }

  return {
    /** Publishes chunks in index order, many in flight at once. */
    async publish(list: readonly Chunk[], lane: LaneName): Promise<void> {
      let next = 0;
      const worker = async () => {
        while (next < list.length) await publishOne(list[next++] as Chunk, lane);
      };
      await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, list.length) }, worker));
    },

    /**
     * Publishes the chunk again for another worker, unless it was completed, or is no longer held by `from`
     * (released, or claimed by another worker meanwhile). Returns the republish count, or null when nothing was published.
     */
    async republish(chunk: Chunk, lane: LaneName, from: string): Promise<number | null> {
      let republished: number | null = null;
      await chunks.updateDispatch(chunk.jobId, chunk.index, (dispatch) => {
        republished = null;
        if (dispatch.completed || dispatch.workerId !== from) return false;
        dispatch.republished += 1;
        dispatch.workerId = "";
        dispatch.publishedAt = timestampNow();
        republished = dispatch.republished;
        return true;
      });
      if (republished === null) return null;
      await js.publish(taskSubject(lane), encodeMessage(ChunkSchema, chunk), {
        msgID: `${chunk.jobId}.${chunk.index}.${republished}`,
        ...traceHeaders(chunk),
      });
      observer?.republished();
      return republished;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
