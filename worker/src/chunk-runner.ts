/**
 * One chunk, from delivery to ack: ClaimChunk → each pending item processed, its result batched into ReportItems
 * calls (the last with `complete`) → ack.
 *
 * While the chunk runs, in-progress acks (`working()`) every AckWait/3 keep JetStream from redelivering it, so
 * AckWait can stay short (a dead worker's chunk comes back quickly) however long the chunk takes. The ack comes
 * only after CompleteChunk: a worker dying in between leaves a chunk that is redelivered, claimed again, found
 * to have nothing pending, and acked.
 *
 * A cancelled job stops its chunk at once: `cancel()` (a cancel broadcast) or a report answer saying "cancelled"
 * aborts the running item (the engine child compressing it is killed), which is reported FAILED CANCELLED with
 * whatever finished before it; the chunk then completes and is acked, freeing its slot.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AbortedError,
  continueTrace,
  decodeMessage,
  formatTraceparent,
  type Logger,
  TRACEPARENT,
  traceFields,
} from "@imgc/common";
import {
  type Chunk,
  type ChunkItem,
  ChunkSchema,
  ErrorCode,
  type ItemResult,
  ItemResultSchema,
  ItemState,
} from "@imgc/proto";
import type { JsMsg } from "nats";
import { type CoordinatorClient, CoordinatorUnreachable } from "./coordinator-client.js";
import type { ProcessItem } from "./process-item.js";
import { createReportBatch } from "./report-batch.js";

export interface ChunkRunnerDeps {
  coordinator: CoordinatorClient;
  processItem: ProcessItem;
  ackWaitMs: number;
  /** How long a chunk waits before redelivery when the coordinator could not be reached. */
  retryDelayMs?: number;
  /** How long to try to tell the coordinator about a released chunk before giving up on telling it. */
  releaseBudgetMs?: number;
  log: Logger;
  /** Called for each item reported. */
  onItem?(result: ItemResult): void;
}

/** acked: finished (or nothing to do); released: given back unfinished; deferred: nak'd to retry later;
 * rejected: undecodable or unknown to the coordinator, terminated. */
export type ChunkOutcome = "acked" | "released" | "deferred" | "rejected";

export interface RunningChunk {
  /** "<job>.<index>", or the stream sequence for an undecodable message. */
  readonly id: string;
  /** The chunk's job; "" for an undecodable message. */
  readonly jobId: string;
  /** Stop at once: abort the running item, CompleteChunk{released}, nak for immediate redelivery. */
  release(): void;
  /** The job was cancelled: abort the running item, report it CANCELLED, complete the chunk and ack it. */
  cancel(): void;
  readonly done: Promise<ChunkOutcome>;
}

export function runChunk(msg: JsMsg, deps: ChunkRunnerDeps): RunningChunk {
  const releasing = new AbortController();
  let chunk: Chunk | undefined;
  try {
    chunk = decodeMessage(ChunkSchema, msg.data);
  } catch (err) {
    deps.log.error({ err, seq: msg.seq }, "undecodable chunk; terminating it");
    msg.term();
    return { id: `seq-${msg.seq}`, jobId: "", release() {}, cancel() {}, done: Promise.resolve("rejected") };
  }
  const id = `${chunk.jobId}.${chunk.index}`;
  const cancelling = new AbortController();
  return {
    id,
    jobId: chunk.jobId,
    release: () => releasing.abort(),
    cancel: () => cancelling.abort(),
    done: run(msg, chunk, id, releasing.signal, cancelling, deps),
  };
}

/** What an item aborted by its job's cancel reports (the coordinator has recorded the same already). */
function cancelledResult(item: ChunkItem): ItemResult {
  return create(ItemResultSchema, {
    itemId: item.itemId,
    sourceKey: item.key,
    state: ItemState.FAILED,
    errorCode: ErrorCode.CANCELLED,
    errorMessage: "The job was cancelled while this item ran",
  });
}

async function run(
  msg: JsMsg,
  chunk: Chunk,
  id: string,
  signal: AbortSignal,
  cancelling: AbortController,
  deps: ChunkRunnerDeps,
) {
  // The job's trace, continued as this worker's span: its logs and its calls to the coordinator carry it.
  chunk.traceParent = formatTraceparent(continueTrace(msg.headers?.get(TRACEPARENT) || chunk.traceParent));
  const log = deps.log.child({ chunk: id, delivery: msg.info.redeliveryCount, ...traceFields(chunk.traceParent) });
  const keepAlive = setInterval(
    () => {
      try {
        msg.working();
      } catch (err) {
        log.warn({ err }, "in-progress ack failed");
      }
    },
    Math.max(100, Math.floor(deps.ackWaitMs / 3)),
  );
  try {
    let claim: Awaited<ReturnType<CoordinatorClient["claim"]>>;
    try {
      claim = await deps.coordinator.claim(chunk, msg.info.redeliveryCount, signal);
    } catch (err) {
      // The coordinator writes a chunk to KV before publishing it, so one it does not know will never be known:
      // redelivering it would only burn deliveries.
      if (err instanceof ConnectError && (err.code === Code.NotFound || err.code === Code.InvalidArgument)) {
        log.error({ err: err.message }, "the coordinator rejects this chunk; terminating it");
        // No reason argument: "+TERM <reason>" needs nats-server 2.10.4, and older servers ignore it entirely.
        msg.term();
        return "rejected";
      }
      throw err;
    }
    if (claim.cancelled) {
      log.info("job cancelled; skipping chunk");
      msg.ack();
      return "acked";
    }
    const pending = new Set(claim.pendingItemIds);
    if (pending.size === 0) {
      // A redelivered copy of a chunk that is finished, or republished and run elsewhere: nothing to complete.
      log.info("nothing pending; acking");
      msg.ack();
      return "acked";
    }
    log.debug({ items: chunk.items.length, pending: pending.size }, "chunk claimed");
    // The claim told the coordinator that the first item starts now; each later start rides with the result
    // before it.
    const todo = chunk.items.filter((item) => pending.has(item.itemId));
    // A report answer saying "cancelled" stops the chunk as the cancel broadcast does, should that be missed.
    const batch = createReportBatch(deps.coordinator, chunk, signal, () => cancelling.abort());
    const itemSignal = AbortSignal.any([signal, cancelling.signal]);
    for (const [at, item] of todo.entries()) {
      if (signal.aborted) throw new AbortedError("released");
      if (cancelling.signal.aborted) break;
      let result: ItemResult;
      try {
        result = await deps.processItem(chunk, item, itemSignal);
      } catch (err) {
        if (!AbortedError.is(err) || signal.aborted || !cancelling.signal.aborted) throw err;
        result = cancelledResult(item);
      }
      const next = todo[at + 1];
      if (next && !cancelling.signal.aborted) batch.started(next.itemId);
      batch.add(result);
      if (result.errorCode !== ErrorCode.CANCELLED) deps.onItem?.(result);
    }
    if (cancelling.signal.aborted) log.info("job cancelled; chunk stopped");
    // Also what finished after the cancel goes to the coordinator: it refuses those results and deletes their
    // outputs, which nothing will refer to.
    await batch.close();
    msg.ack();
    return "acked";
  } catch (err) {
    if (AbortedError.is(err) && signal.aborted) {
      // Best effort: the coordinator learns the chunk is free now rather than when the nak'd copy is claimed.
      await deps.coordinator
        .complete(chunk, true, undefined, deps.releaseBudgetMs ?? 5_000)
        .catch((completeErr: unknown) => log.warn({ err: completeErr }, "could not tell the coordinator"));
      msg.nak();
      log.info("chunk released");
      return "released";
    }
    if (CoordinatorUnreachable.is(err)) log.warn({ err: err.message }, "coordinator unreachable; chunk deferred");
    else log.error({ err }, "chunk failed; deferred");
    msg.nak(deps.retryDelayMs ?? 5_000);
    return "deferred";
  } finally {
    clearInterval(keepAlive);
  }
}
