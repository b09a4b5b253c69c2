/**
 * Puts chunks on the task stream. A first publish carries `Nats-Msg-Id = <job>.<index>` (a retried publish
 * is dropped by the stream) and is then recorded in KV `imgc-dispatch`; a republish (its worker died) carries
 * `<job>.<index>.<n>` with n counted in the dispatch record, so it is never mistaken for a duplicate.
 *
 * Fairness between tenants. The stream serves a lane first in, first out, so a job whose chunks were all
 * published at once would make every job behind it wait for the whole of it. Chunks therefore wait here, one
 * queue per tenant and lane (durable all the same: a chunk is in KV `imgc-chunks` before it is queued, and one
 * without a dispatch record is queued again by a restarted coordinator), and are released onto the stream a few
 * at a time, taking the tenants in turn: the lane keeps `depth()` chunks ready for workers that free up, so no
 * worker waits, and a tenant that arrives behind a big backlog is served within `depth()` chunks. Within a
 * tenant, jobs go in the order they came. A republished chunk skips the queue: it is late already.
 *
 * Each kind of work (TASK_KINDS: compress, detect) has its own subjects and consumers, so flow control is per
 * kind and lane: a detection backlog never holds compression chunks back, and the depth of a kind's lanes
 * follows the slots of the workers that can do it.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  encodeMessage,
  LANES,
  type LaneName,
  type Logger,
  pool,
  TASK_KINDS,
  TASKS_STREAM,
  TRACEPARENT,
  taskConsumer,
  taskKindOf,
  taskSubject,
} from "@imgc/common";
import { type Chunk, ChunkDispatchSchema, ChunkSchema, TaskKind } from "@imgc/proto";
import { headers, type JetStreamClient, type MsgHdrs } from "nats";
import type { ChunkStore } from "../jobs/chunk-store.js";
import { type Fence, unfenced } from "../leadership/fence.js";

const PUBLISH_CONCURRENCY = 64;

/** The job's trace context travels in a header too, so a worker can log it before decoding anything. */
function traceHeaders(chunk: Chunk): { headers?: MsgHdrs } {
  if (!chunk.traceParent) return {};
  const h = headers();
  h.set(TRACEPARENT, chunk.traceParent);
  return { headers: h };
}

export interface DispatcherOptions {
  observer?: { republished(): void };
  log?: Logger;
  /**
   * Chunks each lane of a kind keeps ready on the stream (not yet delivered); the rest wait their tenant's turn.
   */
  depth?: (kind: TaskKind) => number;
  /** How often queued chunks are released even when nothing else asks (a claim or a new job does). */
  pumpEveryMs?: number;
  /** Only the leader publishes. */
  fence?: Fence;
}

/** Chunks waiting for release on one lane: a FIFO per tenant, the tenants taken in turn. */
export function createFairQueue() {
  const queues = new Map<string, Chunk[]>();
  /** Tenants with chunks waiting, in the order they arrived. */
  const order: string[] = [];
  let next = 0;
  let size = 0;
  return {
    push(list: readonly Chunk[]): void {
      for (const chunk of list) {
        let queue = queues.get(chunk.tenant);
        if (!queue) {
          queue = [];
          queues.set(chunk.tenant, queue);
          order.push(chunk.tenant);
        }
        queue.push(chunk);
        size++;
      }
    },
    /** The next tenant's oldest chunk. */
    shift(): Chunk | undefined {
      if (order.length === 0) return undefined;
      const at = next % order.length;
      const tenant = order[at] as string;
      const queue = queues.get(tenant) as Chunk[];
      const chunk = queue.shift();
      size--;
      if (queue.length === 0) {
        // Out of the rotation; the tenant after it now stands at `at`.
        queues.delete(tenant);
        order.splice(at, 1);
        next = at;
      } else next = at + 1;
      return chunk;
    },
    /** Takes a job's chunks out of line (the job was deleted); answers how many. */
    drop(jobId: string): number {
      let dropped = 0;
      for (const [tenant, queue] of queues) {
        const kept = queue.filter((chunk) => chunk.jobId !== jobId);
        if (kept.length === queue.length) continue;
        dropped += queue.length - kept.length;
        if (kept.length > 0) {
          queues.set(tenant, kept);
          continue;
        }
        queues.delete(tenant);
        const at = order.indexOf(tenant);
        order.splice(at, 1);
        // The tenant whose turn is next keeps it.
        if (at < next) next--;
      }
      size -= dropped;
      return dropped;
    },
    get size(): number {
      return size;
    },
  };
}

/** One queue of chunks: a kind of work on a lane. */
interface Line {
  lane: LaneName;
  kind: TaskKind;
  /** The consumer's name, which also names the line. */
  consumer: string;
  queue: ReturnType<typeof createFairQueue>;
}

export function createDispatcher(js: JetStreamClient, chunks: ChunkStore, options: DispatcherOptions = {}) {
  const { observer, log } = options;
  const depth = options.depth ?? (() => 16);
  const lines = new Map<string, Line>();
  for (const { kind } of TASK_KINDS) {
    for (const { name: lane } of LANES) {
      const consumer = taskConsumer(lane, kind);
      lines.set(consumer, { lane, kind, consumer, queue: createFairQueue() });
    }
  }
  const lineOf = (lane: LaneName, kind: TaskKind = TaskKind.COMPRESS) =>
    lines.get(taskConsumer(lane, taskKindOf(kind).kind)) as Line;
  const pumping = new Map<Line, Promise<void>>();
  const again = new Set<Line>();
  const fence = options.fence ?? unfenced;
  const consumers = new Map<Line, ReturnType<JetStreamClient["consumers"]["get"]>>();

  async function publishOne(chunk: Chunk, lane: LaneName): Promise<void> {
    fence.check();
    await js.publish(taskSubject(lane, chunk.kind), encodeMessage(ChunkSchema, chunk), {
      msgID: `${chunk.jobId}.${chunk.index}`,
      ...traceHeaders(chunk),
    });
    await chunks.createDispatch(
      create(ChunkDispatchSchema, { jobId: chunk.jobId, index: chunk.index, publishedAt: timestampNow() }),
    );
  }

  /** Releases queued chunks until the line holds `depth(kind)` undelivered ones. */
  async function release(line: Line): Promise<void> {
    const { queue, lane } = line;
    if (queue.size === 0) return;
    let consumer = consumers.get(line);
    if (!consumer) {
      consumer = js.consumers.get(TASKS_STREAM, line.consumer);
      consumers.set(line, consumer);
      consumer.catch(() => consumers.delete(line));
    }
    const { num_pending } = await (await consumer).info();
    const batch: Chunk[] = [];
    for (let room = depth(line.kind) - num_pending; room > 0 && queue.size > 0; room--) {
      batch.push(queue.shift() as Chunk);
    }
    await pool(batch, PUBLISH_CONCURRENCY, async (chunk) => {
      try {
        await publishOne(chunk, lane);
      } catch (err) {
        // Back in line (at its tenant's tail): the next pump tries again.
        queue.push([chunk]);
        throw err;
      }
    });
  }

  /** One release at a time per line; a call while one runs makes it run once more after. */
  function pump(line: Line): Promise<void> {
    const running = pumping.get(line);
    if (running) {
      again.add(line);
      return running;
    }
    const run = (async () => {
      try {
        do {
          again.delete(line);
          await release(line);
        } while (again.has(line));
      } finally {
        pumping.delete(line);
      }
    })();
    pumping.set(line, run);
    return run;
  }

  const pumpSoon = (line: Line) =>
    pump(line).catch((err: unknown) =>
      log?.warn({ err, lane: line.lane, consumer: line.consumer }, "could not release queued chunks; retrying"),
    );
  const pumpAll = () => {
    for (const line of lines.values()) void pumpSoon(line);
  };
  const timer = setInterval(pumpAll, options.pumpEveryMs ?? 500);
  timer.unref();

  return {
    /**
     * Queues chunks in memory for release onto their lane (each on its kind's), their tenant's turn coming: the
     * pump publishes them. Resolves once a first release has run (a small job's chunks are then on the stream).
     * Every chunk is in KV `imgc-chunks` already.
     */
    async enqueue(list: readonly Chunk[], lane: LaneName): Promise<void> {
      const touched = new Set<Line>();
      for (const chunk of list) {
        const line = lineOf(lane, chunk.kind);
        line.queue.push([chunk]);
        touched.add(line);
      }
      await Promise.all([...touched].map(pump));
    },

    /** Releases chunks on a kind's lane whose ready ones are being taken (a worker claimed one). */
    pump(lane: LaneName, kind?: TaskKind): void {
      void pumpSoon(lineOf(lane, kind));
    },

    /** Forgets the chunks of a deleted job that still wait for release, on every lane of every kind. */
    drop(jobId: string): void {
      for (const line of lines.values()) line.queue.drop(jobId);
    },

    /** Chunks of a kind waiting for release on a lane. */
    waiting(lane: LaneName, kind?: TaskKind): number {
      return lineOf(lane, kind).queue.size;
    },

    close(): void {
      clearInterval(timer);
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
      fence.check();
      await js.publish(taskSubject(lane, chunk.kind), encodeMessage(ChunkSchema, chunk), {
        msgID: `${chunk.jobId}.${chunk.index}.${republished}`,
        ...traceHeaders(chunk),
      });
      observer?.republished();
      return republished;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
