/** imgc.v1.ClusterService: what workers report and what operators ask about the cluster. */

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { controlSubject, LANES, type Logger, quoted, TASK_KINDS } from "@imgc/common";
import {
  type ClusterService,
  type ItemResult,
  ItemState,
  isJobId,
  isTerminalItemState,
  isWorkerId,
  JobState,
  LaneStatsSchema,
  OPTION_LIMITS,
  TaskKind,
  TaskKindStatsSchema,
  WORKER_ID_RULE,
  type WorkerStatus,
} from "@imgc/proto";
import type { ChunkStore } from "../jobs/chunk-store.js";
import type { Lifecycle } from "../jobs/lifecycle.js";
import type { Orphans } from "../jobs/orphans.js";
import { capableOf, slotsFor } from "../membership/capacity.js";
import type { Assignments } from "../scheduler/assignments.js";
import { createGuard, notFound } from "./errors.js";

export interface LaneCounters {
  pending: number;
  ackPending: number;
  redelivered: number;
}

export interface ClusterServiceDeps {
  log?: Logger;
  lifecycle: Lifecycle;
  assignments: Assignments;
  chunks: ChunkStore;
  /** Removes the outputs of a cancelled job's items that no result names. */
  orphans: Orphans;
  membership: { list(): WorkerStatus[]; get(id: string): WorkerStatus | undefined; readonly size: number };
  /** Sends a control message to one worker (core NATS, imgc.control.<id>). */
  control: (subject: string, payload: Uint8Array) => void;
  /** The task consumer's counters for one lane of a kind (held-back chunks in pending). */
  laneStats: (lane: (typeof LANES)[number]["name"], kind: TaskKind) => Promise<LaneCounters>;
}

function checkWorker(workerId: string): void {
  if (!isWorkerId(workerId)) {
    throw new ConnectError(
      `worker_id: expected ${WORKER_ID_RULE} but received ${quoted(workerId)}`,
      Code.InvalidArgument,
    );
  }
}

/** The deterministic output key of an item: `<prefix><item>.<extension>`. */
function isOutputOf(key: string, prefix: string, itemId: string): boolean {
  return key.startsWith(`${prefix}${itemId}.`) && /^[a-z0-9]{1,8}$/.test(key.slice(prefix.length + itemId.length + 1));
}

/** A detection result: DONE with its objects (at most max_objects' ceiling), or FAILED. */
function checkDetection(result: ItemResult): void {
  if (result.state === ItemState.KEPT_ORIGINAL) {
    throw new ConnectError("result.state: expected DONE or FAILED for a detection", Code.InvalidArgument);
  }
  if (result.state === ItemState.DONE && !result.detection) {
    throw new ConnectError("result.detection: required for a DONE detection", Code.InvalidArgument);
  }
  const objects = result.detection?.objects.length ?? 0;
  if (objects > OPTION_LIMITS.maxObjects.max) {
    throw new ConnectError(
      `result.detection.objects: expected at most ${OPTION_LIMITS.maxObjects.max} but received ${objects}`,
      Code.InvalidArgument,
    );
  }
}

function checkJob(jobId: string): void {
  if (!isJobId(jobId)) throw notFound(`job ${quoted(jobId)}`);
}

/** The most started items plus results one ReportItems call may carry (a chunk has at most a few hundred). */
const MAX_BATCH = 10_000;

export function createClusterService(deps: ClusterServiceDeps): ServiceImpl<typeof ClusterService> {
  const { lifecycle, assignments, chunks, membership } = deps;
  const guarded = createGuard(deps.log);

  /**
   * The one path of every report: the job's state comes from memory (an open job's ledger), the chunk from the
   * chunk cache, so a batch costs its KV writes alone. Only the worker holding the chunk may report on it, each
   * result must name an item of this chunk, and an output can only be the item's own deterministic key.
   */
  async function report(
    workerId: string,
    jobId: string,
    chunkIndex: number,
    startedIds: readonly string[],
    list: ItemResult[],
    complete: boolean,
  ) {
    for (const result of list) {
      if (!isTerminalItemState(result.state)) {
        throw new ConnectError("result.state: expected DONE, KEPT_ORIGINAL or FAILED", Code.InvalidArgument);
      }
    }
    return guarded(async () => {
      // An open job's state is in memory; only one that ended (or never was) is read from KV.
      const open = lifecycle.isOpen(jobId);
      const ended = open ? null : await lifecycle.get(jobId);
      if (!open && !ended) throw notFound(`job ${jobId}`);
      const chunk = await chunks.get(jobId, chunkIndex);
      if (!chunk) throw notFound(`chunk ${jobId}.${chunkIndex}`);
      const items = new Map(chunk.items.map((item) => [item.itemId, item]));
      const detect = chunk.kind === TaskKind.DETECT;
      for (const result of list) {
        const item = items.get(result.itemId);
        if (!item) {
          throw new ConnectError(
            `result.item_id: chunk ${jobId}.${chunkIndex} has no item ${quoted(result.itemId)}`,
            Code.InvalidArgument,
          );
        }
        if (detect) {
          checkDetection(result);
          // Detection writes no output; its objects are all it reports.
          result.outputKey = "";
          if (result.detection) result.detection.workerId = workerId;
        } else result.detection = undefined;
        const delivered = !detect && (result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL);
        if (delivered && !isOutputOf(result.outputKey, chunk.outputPrefix, result.itemId)) {
          throw new ConnectError(
            `result.output_key: expected ${chunk.outputPrefix}${result.itemId}.<extension> but received ${quoted(result.outputKey)}`,
            Code.InvalidArgument,
          );
        }
        if (!delivered) result.outputKey = "";
        result.workerId = workerId;
        result.downloadUrl = "";
        result.sourceKey = item.key;
      }
      const cancelled = open ? lifecycle.isCancelled(jobId) : ended?.state === JobState.CANCELLED;
      if (cancelled) {
        // Written after the cancel gave these items their CANCELLED results: nothing will ever name them.
        await deps.orphans.refused(chunk, list);
        return { accepted: list.map(() => false), cancelled: true };
      }
      if (!open) return { accepted: list.map(() => false), cancelled: false };
      if (!assignments.holds(workerId, jobId, chunkIndex)) {
        // The chunk went to another worker (this one was taken for dead, or released it): its work is theirs now.
        deps.log?.warn({ workerId, jobId, chunkIndex }, "a report from a worker that does not hold the chunk; ignored");
        return { accepted: list.map(() => false), cancelled: false };
      }
      if (startedIds.length > 0) {
        const known = startedIds.filter((id) => items.has(id));
        await lifecycle.running(jobId, workerId, known, (id) => items.get(id)?.key ?? "", chunk.kind);
      }
      const accepted = list.length > 0 ? await lifecycle.record(jobId, list, chunk.kind) : [];
      if (complete) await assignments.complete(workerId, jobId, chunkIndex, false);
      // A cancel that came while these were being recorded may have given an item its CANCELLED result first:
      // an output such a refused result names is as orphaned as one reported after the cancel.
      const cancelledSince = lifecycle.isOpen(jobId)
        ? lifecycle.isCancelled(jobId)
        : (await lifecycle.get(jobId))?.state === JobState.CANCELLED;
      const refused = list.filter((_, at) => !accepted[at]);
      if (cancelledSince && refused.length > 0) await deps.orphans.refused(chunk, refused);
      return { accepted, cancelled: cancelledSince };
    });
  }

  return {
    async claimChunk(request) {
      checkWorker(request.workerId);
      checkJob(request.jobId);
      const claim = await guarded(() => assignments.claim(request.workerId, request.jobId, request.index));
      if (!claim) throw notFound(`chunk ${request.jobId}.${request.index}`);
      if (claim.cancelled && request.delivery > 1) {
        // An earlier delivery's worker may have died between writing an output and reporting it.
        await guarded(async () => {
          const chunk = await chunks.get(request.jobId, request.index);
          if (chunk) await deps.orphans.sweep(chunk);
        });
      }
      return { pendingItemIds: claim.pending, cancelled: claim.cancelled };
    },

    async reportItem(request) {
      checkWorker(request.workerId);
      checkJob(request.jobId);
      if (!request.result) throw new ConnectError("result: required", Code.InvalidArgument);
      const answer = await report(request.workerId, request.jobId, request.chunkIndex, [], [request.result], false);
      return { accepted: answer.accepted[0] ?? false, cancelled: answer.cancelled };
    },

    async reportItems(request) {
      checkWorker(request.workerId);
      checkJob(request.jobId);
      if (request.results.length + request.startedItemIds.length > MAX_BATCH) {
        throw new ConnectError(
          `Expected at most ${MAX_BATCH} started items and results in one call but received ${request.results.length + request.startedItemIds.length}`,
          Code.InvalidArgument,
        );
      }
      return report(
        request.workerId,
        request.jobId,
        request.chunkIndex,
        request.startedItemIds,
        request.results,
        request.complete,
      );
    },

    async completeChunk(request) {
      checkWorker(request.workerId);
      checkJob(request.jobId);
      await guarded(() => assignments.complete(request.workerId, request.jobId, request.index, request.released));
      return {};
    },

    async listWorkers() {
      return { workers: membership.list() };
    },

    async drainWorker(request) {
      checkWorker(request.workerId);
      const worker = membership.get(request.workerId);
      if (!worker) throw notFound(`worker ${request.workerId}`);
      deps.control(controlSubject(worker.id), new TextEncoder().encode(JSON.stringify({ action: "drain" })));
      return { worker };
    },

    async getQueueStats() {
      return guarded(async () => {
        const lanes = await Promise.all(
          TASK_KINDS.flatMap(({ kind }) =>
            LANES.map(async (lane) => {
              const stats = await deps.laneStats(lane.name, kind);
              return create(LaneStatsSchema, {
                priority: lane.priority,
                kind,
                pending: BigInt(stats.pending),
                ackPending: BigInt(stats.ackPending),
                redelivered: BigInt(stats.redelivered),
              });
            }),
          ),
        );
        const workers = membership.list();
        const kinds = TASK_KINDS.map(({ kind }) =>
          create(TaskKindStatsSchema, {
            kind,
            workers: capableOf(workers, kind).length,
            slots: slotsFor(workers, kind),
            backlogChunks: lanes
              .filter((lane) => lane.kind === kind)
              .reduce((sum, lane) => sum + lane.pending + lane.ackPending, 0n),
          }),
        );
        return { lanes, kinds, workers: membership.size, activeJobs: lifecycle.openJobIds().length };
      });
    },
  };
}
