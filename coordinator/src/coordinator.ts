/**
 * Wires the coordinator together on a NATS connection and a storage client: topology, stores, job life
 * cycle, scheduler, membership, dead letters; then resumes every job that has not ended. `close` stops the
 * background work (not the NATS connection, which the caller owns), so tests can start a second coordinator
 * on the same NATS to exercise a restart.
 */

import {
  defaultTopology,
  ensureTopology,
  type LaneName,
  type Logger,
  type Storage,
  TASKS_STREAM,
  taskConsumer,
} from "@imgc/common";
import { type NatsConnection, StorageType } from "nats";
import type { ChunkLimits } from "./config.js";
import { chunkKey } from "./ids.js";
import { createCatalog } from "./jobs/catalog.js";
import { createChunkStore } from "./jobs/chunk-store.js";
import { createEvents } from "./jobs/events.js";
import { createIdempotency } from "./jobs/idempotency.js";
import { createJobStore } from "./jobs/job-store.js";
import { createLifecycle, type LifecycleObserver } from "./jobs/lifecycle.js";
import { createResultStore } from "./jobs/result-store.js";
import { createWebhooks } from "./jobs/webhook.js";
import { createMembership } from "./membership/membership.js";
import { createAssignments } from "./scheduler/assignments.js";
import { createDeadLetters, ensureDeadLetters } from "./scheduler/dead-letters.js";
import { createDispatcher } from "./scheduler/dispatcher.js";
import { resumeAll } from "./scheduler/resume.js";
import { createGuardedFetch, type FetchPolicy } from "./scheduler/ssrf-guard.js";
import { createSubmitter } from "./scheduler/submit.js";
import { createUrlSources } from "./scheduler/url-sources.js";
import { createClusterService, type LaneCounters } from "./services/cluster-service.js";
import { createJobService } from "./services/job-service.js";

export const DISPATCH_BUCKET = "imgc-dispatch";
/** Chunks a lane keeps ready for workers at least, however few are live (one may be starting). */
export const MIN_DISPATCH_DEPTH = 8;
export const IDEMPOTENCY_BUCKET = "imgc-idempotency";

export type CoordinatorStorage = Pick<
  Storage,
  "bucket" | "stat" | "list" | "putBuffer" | "putStream" | "presignGet" | "presignPut"
>;

export interface CoordinatorSettings {
  ackWaitMs: number;
  maxDeliver: number;
  workerTimeoutMs: number;
  workerTtlMs: number;
  chunk: ChunkLimits;
  jobMaxItems: number;
  urlTtlS: number;
  /** The SSRF guard's policy for manifests, image URLs and webhooks; by default nothing private is fetched. */
  fetch?: FetchPolicy;
  /** How webhooks are signed and retried. */
  webhook?: { secretFor: (tenant: string) => string; maxAttempts: number; baseDelayMs?: number };
}

const defaultFetchPolicy: FetchPolicy = { allow: [], allowedHosts: [], maxBytes: 64 * 1024 * 1024, timeoutMs: 15_000 };

export interface CoordinatorOptions {
  nc: NatsConnection;
  storage: CoordinatorStorage;
  log: Logger;
  settings: CoordinatorSettings;
  /** How long SubmitJob waits for a concurrent SubmitJob with the same idempotency key (tests shorten it). */
  reservationWaitMs?: number;
  /** Told of recorded results, ended jobs and republished chunks (metrics). */
  observer?: CoordinatorObserver;
}

export interface CoordinatorObserver extends LifecycleObserver {
  /** A chunk went back on the stream because its worker is gone. */
  republished(): void;
}

export async function startCoordinator(options: CoordinatorOptions) {
  const { nc, storage, log, settings } = options;
  const topology = await ensureTopology(nc, {
    ...defaultTopology,
    ackWaitMs: settings.ackWaitMs,
    maxDeliver: settings.maxDeliver,
    workerTtlMs: settings.workerTtlMs,
  });
  const js = nc.jetstream();
  const [dispatchKv, idempotencyKv] = await Promise.all([
    js.views.kv(DISPATCH_BUCKET, { history: 1, storage: StorageType.File }),
    js.views.kv(IDEMPOTENCY_BUCKET, { history: 1, storage: StorageType.File }),
  ]);
  await ensureDeadLetters(topology.jsm);

  const guard = createGuardedFetch(settings.fetch ?? defaultFetchPolicy);
  const jobs = createJobStore(topology.jobs);
  const results = createResultStore(topology.results);
  const chunks = createChunkStore(topology.chunks, dispatchKv);
  const events = createEvents(js, topology.jsm, log);
  const catalog = createCatalog(chunks);
  const lifecycle = createLifecycle({
    jobs,
    results,
    events,
    storage,
    webhooks: createWebhooks({
      log,
      guard,
      secretFor: settings.webhook?.secretFor ?? (() => ""),
      maxAttempts: settings.webhook?.maxAttempts ?? 6,
      ...(settings.webhook?.baseDelayMs !== undefined ? { baseDelayMs: settings.webhook.baseDelayMs } : {}),
    }),
    log,
    ...(options.observer ? { observer: options.observer } : {}),
  });
  // The lanes keep about two chunks per live worker slot ready; the rest wait for their tenant's turn.
  const liveSlots = () => membership.list().reduce((sum, worker) => sum + worker.slots, 0);
  const dispatcher = createDispatcher(js, chunks, {
    log,
    depth: () => Math.max(MIN_DISPATCH_DEPTH, 2 * liveSlots()),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const assignments = createAssignments({ lifecycle, chunks, dispatcher, log, maxRepublish: settings.maxDeliver });
  const submitter = createSubmitter({
    storage,
    jobs,
    results,
    chunks,
    idempotency: createIdempotency(idempotencyKv),
    lifecycle,
    dispatcher,
    events,
    log,
    limits: settings.chunk,
    slots: liveSlots,
    maxItems: settings.jobMaxItems,
    urls: (tenant, jobId) => createUrlSources({ guard, storage, tenant, jobId }),
    checkUrl: guard.check,
    ...(options.reservationWaitMs !== undefined ? { reservationWaitMs: options.reservationWaitMs } : {}),
  });
  const membership = createMembership({
    kv: topology.workers,
    timeoutMs: settings.workerTimeoutMs,
    log,
    onGone: (status, _reason, restartedAt) => assignments.workerGone(status.id, status.chunks, restartedAt),
  });
  const deadLetters = createDeadLetters({
    js,
    jsm: topology.jsm,
    log,
    onDeadChunk: async (chunk, deliveries) =>
      // A live worker runs a republished copy: its reports settle the items.
      membership.runs(chunkKey(chunk.jobId, chunk.index)) ? 0 : assignments.deadLetter(chunk, deliveries),
  });

  await membership.start();
  const resumed = await resumeAll({ jobs, chunks, lifecycle, dispatcher, assignments, itemsOf: catalog.pending, log });
  // Claims recorded before the restart by workers that are no longer here: republish their chunks now.
  for (const workerId of assignments.workersHolding()) {
    if (!membership.isLive(workerId)) await assignments.workerGone(workerId);
  }
  await deadLetters.start();
  if (resumed > 0) log.info({ resumed }, "resumed jobs");
  const reaper = setInterval(
    () => {
      for (const workerId of assignments.strays(membership.isLive, settings.workerTimeoutMs)) {
        log.info({ workerId }, "a worker without a heartbeat holds chunks; republishing them");
        void assignments.workerGone(workerId);
      }
    },
    Math.max(100, Math.min(1_000, settings.workerTimeoutMs / 4)),
  );
  reaper.unref();

  const closing = new AbortController();
  const jobService = createJobService({
    log,
    closing: closing.signal,
    submitter,
    lifecycle,
    jobs,
    results,
    catalog,
    events,
    storage,
    urlTtlS: settings.urlTtlS,
  });
  const laneStats = async (lane: LaneName): Promise<LaneCounters> => {
    const info = await topology.jsm.consumers.info(TASKS_STREAM, taskConsumer(lane));
    // Pending: on the stream, and waiting here for their tenant's turn.
    return {
      pending: info.num_pending + dispatcher.waiting(lane),
      ackPending: info.num_ack_pending,
      redelivered: info.num_redelivered,
    };
  };
  const clusterService = createClusterService({
    log,
    lifecycle,
    assignments,
    chunks,
    membership,
    control: (subject, payload) => nc.publish(subject, payload),
    laneStats,
  });

  return {
    jobService,
    clusterService,
    lifecycle,
    membership,
    assignments,
    jobs,
    results,
    chunks,
    /** The task consumer's counters for one lane (metrics). */
    laneStats,
    /** Ends every open WatchJob stream (their clients resume with after_sequence). */
    endStreams(): void {
      closing.abort();
    },
    async close(): Promise<void> {
      closing.abort();
      clearInterval(reaper);
      dispatcher.close();
      await deadLetters.stop();
      await membership.stop();
    },
  };
}

export type Coordinator = Awaited<ReturnType<typeof startCoordinator>>;
