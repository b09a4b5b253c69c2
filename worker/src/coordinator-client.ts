/**
 * The worker's coordinator client, its whole side of ClusterService: claim a chunk, report each item, complete
 * (or release) the chunk.
 *
 * Calls that fail because the coordinator is unreachable or slow (UNAVAILABLE, DEADLINE_EXCEEDED) are retried
 * with exponential backoff for up to `retryBudgetMs`; past that, `CoordinatorUnreachable` tells the chunk
 * runner to give the chunk back to the queue. Every call is idempotent on the coordinator's side, so a retry
 * after a lost answer is harmless.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type GrpcJsClient, type Logger, retry, TRACEPARENT } from "@imgc/common";
import type {
  Chunk,
  ClaimChunkResponse,
  ClusterService,
  ItemResult,
  ReportItemResponse,
  ReportItemsResponse,
} from "@imgc/proto";

/** The methods of the generated ClusterService client (grpc-js) that the coordinator client calls. */
export type ClusterServiceStub = Pick<
  GrpcJsClient<typeof ClusterService>,
  "claimChunk" | "reportItem" | "reportItems" | "completeChunk"
>;

export class CoordinatorUnreachable extends Error {
  override name = "CoordinatorUnreachable";
  static is(err: unknown): err is CoordinatorUnreachable {
    return err instanceof CoordinatorUnreachable;
  }
}

export function isTransient(err: unknown): boolean {
  return err instanceof ConnectError && (err.code === Code.Unavailable || err.code === Code.DeadlineExceeded);
}

export interface CoordinatorClientDeps {
  client: ClusterServiceStub;
  workerId: string;
  log: Logger;
  /** How long to keep retrying an unreachable coordinator. */
  retryBudgetMs?: number;
  /** Deadline of one call. */
  callTimeoutMs?: number;
}

export interface CoordinatorClient {
  claim(chunk: Chunk, delivery: number, signal?: AbortSignal): Promise<ClaimChunkResponse>;
  report(chunk: Chunk, result: ItemResult, signal?: AbortSignal): Promise<ReportItemResponse>;
  /** Items started and results, in one call; `complete` ends the chunk too. */
  reportMany(
    chunk: Chunk,
    batch: { started: readonly string[]; results: readonly ItemResult[]; complete: boolean },
    signal?: AbortSignal,
  ): Promise<ReportItemsResponse>;
  complete(chunk: Chunk, released: boolean, signal?: AbortSignal, budgetMs?: number): Promise<void>;
}

/** Each call carries the chunk's trace context, so the coordinator's side of it joins the job's trace. */
function callOptions(chunk: Chunk, timeoutMs: number) {
  return chunk.traceParent ? { timeoutMs, headers: { [TRACEPARENT]: chunk.traceParent } } : { timeoutMs };
}

export function createCoordinatorClient(deps: CoordinatorClientDeps): CoordinatorClient {
  const budgetMs = deps.retryBudgetMs ?? 60_000;
  const timeoutMs = deps.callTimeoutMs ?? 10_000;

  async function call<T>(what: string, run: () => Promise<T>, signal?: AbortSignal, budget = budgetMs): Promise<T> {
    try {
      return await retry(run, {
        retryable: isTransient,
        budgetMs: budget,
        // A coordinator failover takes about a lease: retry often enough to notice the new leader at once.
        maxDelayMs: 1_000,
        ...(signal ? { signal } : {}),
        onRetry: (err, attempt, delayMs) =>
          deps.log.warn(
            { err: String(err), attempt, delayMs: Math.round(delayMs) },
            `${what}: coordinator unreachable`,
          ),
      });
    } catch (err) {
      if (isTransient(err)) throw new CoordinatorUnreachable(`${what}: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  return {
    claim(chunk, delivery, signal) {
      return call(
        "ClaimChunk",
        () =>
          deps.client.claimChunk(
            { workerId: deps.workerId, jobId: chunk.jobId, index: chunk.index, delivery },
            callOptions(chunk, timeoutMs),
          ),
        signal,
      );
    },
    report(chunk, result, signal) {
      return call(
        "ReportItem",
        () =>
          deps.client.reportItem(
            { workerId: deps.workerId, jobId: chunk.jobId, chunkIndex: chunk.index, result },
            callOptions(chunk, timeoutMs),
          ),
        signal,
      );
    },
    reportMany(chunk, batch, signal) {
      return call(
        "ReportItems",
        () =>
          deps.client.reportItems(
            {
              workerId: deps.workerId,
              jobId: chunk.jobId,
              chunkIndex: chunk.index,
              startedItemIds: [...batch.started],
              results: [...batch.results],
              complete: batch.complete,
            },
            callOptions(chunk, timeoutMs),
          ),
        signal,
      );
    },
    async complete(chunk, released, signal, budget) {
      await call(
        "CompleteChunk",
        () =>
          deps.client.completeChunk(
            { workerId: deps.workerId, jobId: chunk.jobId, index: chunk.index, released },
            callOptions(chunk, timeoutMs),
          ),
        signal,
        budget,
      );
    },
  };
}
