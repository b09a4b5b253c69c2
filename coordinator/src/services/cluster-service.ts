/** imgc.v1.ClusterService: what workers report and what operators ask about the cluster. */

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { controlSubject, LANES, type Logger } from "@imgc/common";
import { type ClusterService, JobState, LaneStatsSchema, type WorkerStatus } from "@imgc/proto";
import { isJobId, itemPosition } from "../ids.js";
import type { ChunkStore } from "../jobs/chunk-store.js";
import { isTerminalItemState } from "../jobs/job-states.js";
import type { Lifecycle } from "../jobs/lifecycle.js";
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
  membership: { list(): WorkerStatus[]; get(id: string): WorkerStatus | undefined; readonly size: number };
  /** Sends a control message to one worker (core NATS, imgc.control.<id>). */
  control: (subject: string, payload: Uint8Array) => void;
  /** The task consumer's counters for one lane. */
  laneStats: (lane: (typeof LANES)[number]["name"]) => Promise<LaneCounters>;
}

const WORKER_ID = /^[A-Za-z0-9_-]{1,128}$/;

function checkWorker(workerId: string): void {
  if (!WORKER_ID.test(workerId)) {
    throw new ConnectError(
      `worker_id: expected 1 to 128 of [A-Za-z0-9_-] but received ${JSON.stringify(workerId)}`,
      Code.InvalidArgument,
    );
  }
}

function checkJob(jobId: string): void {
  if (!isJobId(jobId)) throw notFound(`job ${JSON.stringify(jobId)}`);
}

export function createClusterService(deps: ClusterServiceDeps): ServiceImpl<typeof ClusterService> {
  const { lifecycle, assignments, chunks, membership } = deps;
  const guarded = createGuard(deps.log);

  return {
    async claimChunk(request) {
      checkWorker(request.workerId);
      checkJob(request.jobId);
      const claim = await guarded(() => assignments.claim(request.workerId, request.jobId, request.index));
      if (!claim) throw notFound(`chunk ${request.jobId}.${request.index}`);
      return { pendingItemIds: claim.pending, cancelled: claim.cancelled };
    },

    async reportItem(request) {
      checkWorker(request.workerId);
      checkJob(request.jobId);
      const result = request.result;
      if (!result || !isTerminalItemState(result.state)) {
        throw new ConnectError("result.state: expected DONE, KEPT_ORIGINAL or FAILED", Code.InvalidArgument);
      }
      return guarded(async () => {
        const job = await lifecycle.get(request.jobId);
        if (!job) throw notFound(`job ${request.jobId}`);
        const position = itemPosition(result.itemId);
        if (position < 0 || position >= (job.counts?.total ?? 0)) {
          throw new ConnectError(
            `result.item_id: job ${job.id} has no item ${JSON.stringify(result.itemId)}`,
            Code.InvalidArgument,
          );
        }
        if (job.state === JobState.CANCELLED) return { accepted: false, cancelled: true };
        if (!result.workerId) result.workerId = request.workerId;
        result.downloadUrl = "";
        if (!result.sourceKey) {
          const chunk = await chunks.get(job.id, request.chunkIndex);
          result.sourceKey = chunk?.items.find((item) => item.itemId === result.itemId)?.key ?? "";
        }
        const [accepted = false] = await lifecycle.record(job.id, [result]);
        const now = await lifecycle.get(job.id);
        return { accepted, cancelled: now?.state === JobState.CANCELLED };
      });
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
          LANES.map(async (lane) => {
            const stats = await deps.laneStats(lane.name);
            return create(LaneStatsSchema, {
              priority: lane.priority,
              pending: BigInt(stats.pending),
              ackPending: BigInt(stats.ackPending),
              redelivered: BigInt(stats.redelivered),
            });
          }),
        );
        return { lanes, workers: membership.size, activeJobs: lifecycle.openJobIds().length };
      });
    },
  };
}
