/**
 * A no-op worker for the scheduling benchmark: it speaks the worker's protocol (heartbeat in KV
 * imgc-workers, pull from the task stream, ClaimChunk, one ReportItems with every result and `complete`, ack;
 * or, with `perItem`, the older protocol: ReportItem for each pending item, then CompleteChunk) and does no
 * image work at all, so what it measures is the cluster's own cost per chunk. Benchmark-only: it
 * reports DONE results for outputs it never wrote.
 *
 * Each chunk's round trip runs from its publish (the stream's timestamp) through pull, claim, reports and
 * complete to the ack the server confirmed.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  createGrpcJsClient,
  decodeMessage,
  encodeMessage,
  internalGrpcOptions,
  TASKS_STREAM,
  TRACEPARENT,
  taskConsumer,
  WORKERS_BUCKET,
} from "@imgc/common";
import { ChunkSchema, ClusterService, ImageFormat, ItemResultSchema, ItemState, WorkerStatusSchema } from "@imgc/proto";
import { connect } from "nats";

export interface ChunkTiming {
  /** Publish to confirmed ack, ms. */
  roundTripMs: number;
  /** Pull to confirmed ack (the protocol's own calls), ms. */
  serviceMs: number;
  /** Each call, ms: ClaimChunk, the reports together (with the completion when batched), CompleteChunk (per-item
   * protocol only), the confirmed ack. */
  claimMs: number;
  reportMs: number;
  completeMs: number;
  ackMs: number;
  items: number;
  ackedAt: number;
}

export interface NoopWorker {
  readonly timings: ChunkTiming[];
  stop(): Promise<void>;
}

export async function startNoopWorker(options: {
  natsUrl: string;
  coordinatorUrl: string;
  id: string;
  /** Chunks pulled and run at once. */
  lanes: number;
  /** The slots the heartbeat advertises (the coordinator sizes chunks by the live slots). */
  slots: number;
  /** A worker's NATS user and its token (the cluster's credentials). */
  auth: { nats: { user: string; pass: string }; token: string };
  /** Report each item with its own ReportItem and complete with CompleteChunk (the per-item protocol). */
  perItem?: boolean;
}): Promise<NoopWorker> {
  const nc = await connect({ servers: options.natsUrl, name: `bench-${options.id}`, ...options.auth.nats });
  const js = nc.jetstream();
  const kv = await js.views.kv(WORKERS_BUCKET);
  const client = createGrpcJsClient(ClusterService, options.coordinatorUrl, internalGrpcOptions(options.auth.token));
  const consumer = await js.consumers.get(TASKS_STREAM, taskConsumer("normal"));
  const timings: ChunkTiming[] = [];
  let busy = 0;
  let stopping = false;

  const beat = () =>
    kv.put(
      options.id,
      encodeMessage(
        WorkerStatusSchema,
        create(WorkerStatusSchema, {
          id: options.id,
          host: "bench",
          pid: process.pid,
          version: "noop",
          slots: options.slots,
          busy,
          heartbeatAt: timestampNow(),
        }),
      ),
    );
  await beat();
  const heartbeat = setInterval(() => void beat().catch(() => undefined), 1_000);

  async function lane(): Promise<void> {
    while (!stopping) {
      const msg = await consumer.next({ expires: 1_000 }).catch(() => null);
      if (!msg) continue;
      const pulledAt = Date.now();
      busy++;
      const chunk = decodeMessage(ChunkSchema, msg.data);
      const trace = msg.headers?.get(TRACEPARENT);
      const headers = trace ? { [TRACEPARENT]: trace } : undefined;
      const call = headers ? { timeoutMs: 10_000, headers } : { timeoutMs: 10_000 };
      const claim = await client.claimChunk(
        { workerId: options.id, jobId: chunk.jobId, index: chunk.index, delivery: msg.info.redeliveryCount },
        call,
      );
      const claimedAt = Date.now();
      const results = claim.pendingItemIds.map((itemId) =>
        create(ItemResultSchema, {
          itemId,
          state: ItemState.DONE,
          outputKey: `${chunk.outputPrefix}${itemId}.webp`,
          format: ImageFormat.WEBP,
          inputBytes: 1n,
          outputBytes: 1n,
          width: 1,
          height: 1,
          workerId: options.id,
        }),
      );
      const where = { workerId: options.id, jobId: chunk.jobId, chunkIndex: chunk.index };
      if (options.perItem) {
        for (const result of results) await client.reportItem({ ...where, result }, call);
      } else if (results.length > 0) {
        await client.reportItems({ ...where, results, complete: true }, call);
      }
      const reportedAt = Date.now();
      if (options.perItem && claim.pendingItemIds.length > 0) {
        await client.completeChunk({ workerId: options.id, jobId: chunk.jobId, index: chunk.index }, call);
      }
      const completedAt = Date.now();
      await msg.ackAck();
      busy--;
      const ackedAt = Date.now();
      timings.push({
        roundTripMs: ackedAt - msg.info.timestampNanos / 1e6,
        serviceMs: ackedAt - pulledAt,
        claimMs: claimedAt - pulledAt,
        reportMs: reportedAt - claimedAt,
        completeMs: completedAt - reportedAt,
        ackMs: ackedAt - completedAt,
        items: claim.pendingItemIds.length,
        ackedAt,
      });
    }
  }
  const running = Promise.all(Array.from({ length: options.lanes }, lane));

  return {
    timings,
    async stop() {
      stopping = true;
      await running;
      clearInterval(heartbeat);
      await kv.delete(options.id);
      client.close();
      await nc.close();
    },
  };
}
