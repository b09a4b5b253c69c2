/**
 * One chunk, from delivery to ack: ClaimChunk → each pending item processed, its result batched into ReportItems
 * calls (the last with `complete`) → ack.
 *
 * While the chunk runs, in-progress acks (`working()`) every AckWait/3 keep JetStream from redelivering it, so
 * AckWait can stay short (a dead worker's chunk comes back quickly) however long the chunk takes. The ack comes
 * only after CompleteChunk: a worker dying in between leaves a chunk that is redelivered, claimed again, found
 * to have nothing pending, and acked.
 */
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
import { type Chunk, ChunkSchema, type ItemResult } from "@imgc/proto";
import type { JsMsg } from "nats";
import type { ProcessItem } from "./process-item.js";
import { createReportBatch } from "./report-batch.js";
import { CoordinatorUnreachable, type Reporter } from "./reporter.js";

export interface ChunkRunnerDeps {
  reporter: Reporter;
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
  /** Stop at once: abort the running item, CompleteChunk{released}, nak for immediate redelivery. */
  release(): void;
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
    return { id: `seq-${msg.seq}`, release() {}, done: Promise.resolve("rejected") };
  }
  const id = `${chunk.jobId}.${chunk.index}`;
  return {
    id,
    release: () => releasing.abort(),
    done: run(msg, chunk, id, releasing.signal, deps),
  };
}

async function run(msg: JsMsg, chunk: Chunk, id: string, signal: AbortSignal, deps: ChunkRunnerDeps) {
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
    let claim: Awaited<ReturnType<Reporter["claim"]>>;
    try {
      claim = await deps.reporter.claim(chunk, msg.info.redeliveryCount, signal);
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
    const batch = createReportBatch(deps.reporter, chunk, signal);
    for (const [at, item] of todo.entries()) {
      if (signal.aborted) throw new AbortedError("released");
      const result = await deps.processItem(chunk, item, signal);
      const next = todo[at + 1];
      if (next && !batch.cancelled) batch.started(next.itemId);
      batch.add(result);
      deps.onItem?.(result);
      if (batch.cancelled) {
        log.info({ item: item.itemId }, "job cancelled; stopping the chunk");
        break;
      }
    }
    await batch.close();
    msg.ack();
    return "acked";
  } catch (err) {
    if (AbortedError.isAborted(err) && signal.aborted) {
      // Best effort: the coordinator learns the chunk is free now rather than when the nak'd copy is claimed.
      await deps.reporter
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
