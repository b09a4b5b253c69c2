/**
 * Wires the coordinator together on a NATS connection and a storage client. Any number of coordinators run on
 * one NATS; one leads (leadership/lease.ts). Every coordinator keeps the shared, read-only view warm: stores,
 * the job index, worker membership, job events; so it answers reads (GetJob, ListJobs, GetResults, WatchJob,
 * ListWorkers) itself. The leader alone runs the **term**: job life cycles, the dispatcher, assignments, dead
 * letters; it is built fresh when this process is elected (every job that has not ended is resumed from KV,
 * exactly as after a restart) and torn down when it is deposed. A follower answers the writes (SubmitJob,
 * CancelJob, ClaimChunk, ReportItem(s), CompleteChunk, GetQueueStats) with Unavailable and the leader's address
 * in `x-imgc-leader`, which the clients follow. `close` stops the background work (not the NATS connection,
 * which the caller owns), so tests can start a second coordinator on the same NATS.
 */

import { randomBytes } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  BROADCAST_SUBJECT,
  CHUNKS_BUCKET,
  defaultTopology,
  ensureTopology,
  JOBS_BUCKET,
  LANES,
  type LaneName,
  type Logger,
  RESULTS_BUCKET,
  type Storage,
  TASK_KINDS,
  TASKS_STREAM,
  taskConsumer,
} from "@imgc/common";
import { ClusterService, JobService, TaskKind } from "@imgc/proto";
import { type NatsConnection, StorageType } from "nats";
import type { ChunkLimits } from "./config.js";
import { chunkKey } from "./ids.js";
import { createJobAcceptor } from "./jobs/accept-job.js";
import { createCatalog } from "./jobs/catalog.js";
import { createChunkStore } from "./jobs/chunk-store.js";
import { createEvents } from "./jobs/events.js";
import { createIdempotency } from "./jobs/idempotency.js";
import { createJobDeletion } from "./jobs/job-deletion.js";
import { createJobStore } from "./jobs/job-store.js";
import { createKvWriter, withKvWriter } from "./jobs/kv-writer.js";
import { createLifecycle, type LifecycleObserver } from "./jobs/lifecycle.js";
import { createOrphans } from "./jobs/orphans.js";
import { createPartStore, PARTS_BUCKET } from "./jobs/part-store.js";
import { createResultStore } from "./jobs/result-store.js";
import { createRetentionSweep, type RetentionPolicy } from "./jobs/retention.js";
import { createWebhooks } from "./jobs/webhook.js";
import { type Fence, NotLeaderError } from "./leadership/fence.js";
import { createLease } from "./leadership/lease.js";
import { routeToLeader } from "./leadership/route.js";
import { createTerms } from "./leadership/terms.js";
import { slotsFor, waitingNotice } from "./membership/capacity.js";
import { createMembership } from "./membership/membership.js";
import { createGuardedFetch, type FetchPolicy } from "./net/ssrf-guard.js";
import { createAssignments } from "./scheduler/assignments.js";
import { backlogOf } from "./scheduler/backlog.js";
import { createDeadLetters, ensureDeadLetters } from "./scheduler/dead-letters.js";
import { createDispatcher } from "./scheduler/dispatcher.js";
import { resumeAll } from "./scheduler/resume.js";
import { createTenantQuota, type TenantQuota } from "./scheduler/tenant-quota.js";
import { createUrlSources } from "./scheduler/url-sources.js";
import { createClusterService, type LaneCounters } from "./services/cluster-service.js";
import { createJobService } from "./services/job-service.js";
import { sourceScopeFor } from "./validate.js";

export const DISPATCH_BUCKET = "imgc-dispatch";
/** Chunks a lane keeps ready for workers at least, however few are live (one may be starting). */
export const MIN_DISPATCH_DEPTH = 8;
export const IDEMPOTENCY_BUCKET = "imgc-idempotency";

export type CoordinatorStorage = Pick<
  Storage,
  "bucket" | "stat" | "list" | "getHead" | "putBuffer" | "putStream" | "presignGet" | "presignPut" | "remove"
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
  /** Per-tenant quotas on open work (0: no limit). */
  quota?: TenantQuota;
  /** Internal-service identities that may read sources outside a tenant's folders (IMGC_SOURCE_READERS). */
  sourceReaders?: readonly string[];
  /** How long ended jobs are kept, and how often the leader deletes expired ones; without it, forever. */
  retention?: RetentionPolicy;
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
  /** Leadership: this process's id, its address (what followers tell clients; may be known only once the
   * server listens), and the lease length. */
  leadership?: { id?: string; address?: () => string; leaseMs?: number };
}

/** The lease when none is configured: long enough to ride out a GC pause, short enough for a quick takeover. */
export const DEFAULT_LEASE_MS = 5_000;

/** JobService calls only the leader may answer; the rest read shared state and any coordinator answers them. */
const LEADER_JOB_METHODS = ["submitJob", "cancelJob", "retryJob", "deleteJob"] as const;
/** ClusterService calls only the leader may answer. */
const LEADER_CLUSTER_METHODS = ["claimChunk", "reportItem", "reportItems", "completeChunk", "getQueueStats"] as const;

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
  // The job state's writes, a result per item among them, go through one pipelined writer (kv-writer.ts).
  const writer = createKvWriter(nc);
  const opened = (bucket: string) =>
    js.views.kv(bucket, { history: 1, storage: StorageType.File }).then((kv) => withKvWriter(kv, bucket, writer));
  const [dispatchKv, idempotencyKv, partsKv] = await Promise.all([
    opened(DISPATCH_BUCKET),
    opened(IDEMPOTENCY_BUCKET),
    opened(PARTS_BUCKET),
  ]);
  const jobsKv = withKvWriter(topology.jobs, JOBS_BUCKET, writer);
  const chunksKv = withKvWriter(topology.chunks, CHUNKS_BUCKET, writer);
  const resultsKv = withKvWriter(topology.results, RESULTS_BUCKET, writer);
  await ensureDeadLetters(topology.jsm);

  const id = options.leadership?.id ?? `coordinator-${randomBytes(4).toString("hex")}`;
  const address = options.leadership?.address ?? (() => "");
  const leaseMs = options.leadership?.leaseMs ?? DEFAULT_LEASE_MS;
  // Every shared write passes this fence: only a leader with an unexpired lease writes, under its term.
  const fence: Fence = {
    check() {
      const held = lease.term;
      if (held === 0) throw new NotLeaderError(lease.leader()?.address || undefined);
      return held;
    },
  };

  const guard = createGuardedFetch(settings.fetch ?? defaultFetchPolicy);
  const jobs = createJobStore(jobsKv, fence);
  const results = createResultStore(resultsKv);
  const parts = createPartStore(partsKv);
  const chunks = createChunkStore(chunksKv, dispatchKv, fence);
  const events = createEvents({ nc, js, jsm: topology.jsm, log, fence });
  const catalog = createCatalog(chunks);
  const following = await jobs.follow();
  const liveSlots = () => membership.list().reduce((sum, worker) => sum + worker.slots, 0);
  const closing = new AbortController();

  /** One leadership term's moving parts; a follower holds an idle one, whose services only read. */
  function createTerm() {
    const lifecycle = createLifecycle({
      jobs,
      results,
      parts,
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
      announceCancel: (jobId) =>
        nc.publish(BROADCAST_SUBJECT, new TextEncoder().encode(JSON.stringify({ action: "cancel", jobId }))),
      ...(settings.retention ? { retention: settings.retention } : {}),
    });
    // A kind's lanes keep about two chunks per slot of the live workers that can do it ready; the rest wait for
    // their tenant's turn.
    const dispatcher = createDispatcher(js, chunks, {
      log,
      fence,
      depth: (kind) => Math.max(MIN_DISPATCH_DEPTH, 2 * slotsFor(membership.list(), kind)),
      ...(options.observer ? { observer: options.observer } : {}),
    });
    const assignments = createAssignments({ lifecycle, chunks, dispatcher, log, maxRepublish: settings.maxDeliver });
    const idempotency = createIdempotency(idempotencyKv);
    const acceptor = createJobAcceptor({
      storage,
      jobs,
      results,
      chunks,
      idempotency,
      lifecycle,
      dispatcher,
      events,
      log,
      limits: settings.chunk,
      slots: liveSlots,
      notice: (tasks) => waitingNotice(tasks, membership.list()),
      maxItems: settings.jobMaxItems,
      urls: (tenant, jobId) => createUrlSources({ guard, storage, tenant, jobId }),
      checkUrl: guard.check,
      ...(settings.quota ? { quota: createTenantQuota(settings.quota, lifecycle) } : {}),
      ...(options.reservationWaitMs !== undefined ? { reservationWaitMs: options.reservationWaitMs } : {}),
      ...(settings.retention ? { retention: settings.retention } : {}),
    });
    const deletion = createJobDeletion({
      jobs,
      chunks,
      catalog,
      idempotency,
      lifecycle,
      results,
      jsm: topology.jsm,
      dispatchBucket: DISPATCH_BUCKET,
      dispatcher,
      storage,
      log,
      fence,
    });
    const retention = settings.retention
      ? createRetentionSweep({
          policy: settings.retention,
          expired: jobs.expired,
          remove: async (jobId) => {
            const job = await lifecycle.get(jobId);
            if (job) await deletion.remove(job);
          },
          log,
        })
      : undefined;
    const deadLetters = createDeadLetters({
      js,
      jsm: topology.jsm,
      log,
      onDeadChunk: async (chunk, deliveries) =>
        // A live worker runs a republished copy: its reports settle the items.
        membership.runs(chunkKey(chunk.jobId, chunk.index)) ? 0 : assignments.deadLetter(chunk, deliveries),
    });
    let reaper: NodeJS.Timeout | undefined;
    /** Each open job's notice follows the live workers: set while a kind it asks for has none, cleared after. */
    const refreshNotices = async () => {
      const workers = membership.list();
      for (const jobId of lifecycle.openJobIds()) {
        const tasks = lifecycle.ledger(jobId)?.tasks;
        if (!tasks) continue;
        await lifecycle
          .setNotice(jobId, waitingNotice(tasks, workers))
          .catch((err: unknown) => log.debug({ err, jobId }, "could not update the job's notice"));
      }
    };
    const jobService = createJobService({
      log,
      closing: closing.signal,
      acceptor,
      lifecycle,
      deletion,
      jobs,
      results,
      catalog,
      events,
      storage,
      urlTtlS: settings.urlTtlS,
      sourceScope: sourceScopeFor(settings.sourceReaders ?? []),
    });
    const clusterService = createClusterService({
      log,
      lifecycle,
      assignments,
      chunks,
      orphans: createOrphans({ results, storage, log }),
      membership,
      control: (subject, payload) => nc.publish(subject, payload),
      laneStats: (lane, kind) => laneStats(lane, kind, dispatcher),
    });
    // Aborted by `stop`: a term stopped while it resumes goes no further.
    const stopped = new AbortController();
    return {
      lifecycle,
      assignments,
      dispatcher,
      retention,
      jobService,
      clusterService,
      /** Resumes every job not ended, republishes what dead workers held, and starts the background work. */
      async start(): Promise<void> {
        const resumed = await resumeAll({
          jobs,
          chunks,
          lifecycle,
          dispatcher,
          assignments,
          itemsOf: catalog.allAsPending,
          log,
          signal: stopped.signal,
        });
        // Claims recorded before this term by workers that are no longer here: republish their chunks now.
        for (const workerId of assignments.workersHolding()) {
          if (!membership.isLive(workerId)) await assignments.workerGone(workerId);
        }
        stopped.signal.throwIfAborted();
        await deadLetters.start();
        if (resumed > 0) log.info({ resumed }, "resumed jobs");
        reaper = setInterval(
          () => {
            for (const workerId of assignments.strays(membership.isLive, settings.workerTimeoutMs)) {
              log.info({ workerId }, "a worker without a heartbeat holds chunks; republishing them");
              void assignments.workerGone(workerId);
            }
            void refreshNotices();
          },
          Math.max(100, Math.min(1_000, settings.workerTimeoutMs / 4)),
        );
        reaper.unref();
        retention?.start();
      },
      async stop(): Promise<void> {
        stopped.abort(new Error("the term stopped (lease lost, or shutting down)"));
        clearInterval(reaper);
        await retention?.stop();
        dispatcher.close();
        await deadLetters.stop();
      },
    };
  }
  const membership = createMembership({
    kv: topology.workers,
    timeoutMs: settings.workerTimeoutMs,
    log,
    onGone: async (status, _reason, restartedAt) => {
      // Every coordinator watches the workers; only the leader acts on a departure (a new leader re-checks all).
      if (terms.leading) await terms.current.assignments.workerGone(status.id, status.chunks, restartedAt);
    },
  });
  const terms = createTerms(createTerm);
  await membership.start();

  const laneStats = async (
    lane: LaneName,
    kind: TaskKind = TaskKind.COMPRESS,
    dispatcher = terms.current.dispatcher,
  ): Promise<LaneCounters> => {
    const consumer = taskConsumer(lane, kind);
    const info = await topology.jsm.consumers.info(TASKS_STREAM, consumer);
    // Pending: on the stream, and waiting in the leader for their tenant's turn (a follower knows that number
    // from the leader's last renewal), so every coordinator shows the whole backlog to the autoscaler.
    const waiting = terms.leading ? dispatcher.waiting(lane, kind) : (lease.leader()?.waiting?.[consumer] ?? 0);
    return {
      pending: info.num_pending + waiting,
      ackPending: info.num_ack_pending,
      redelivered: info.num_redelivered,
    };
  };

  const lease = createLease({
    nc,
    id,
    address,
    leaseMs,
    log,
    async onElected() {
      // Claims and reports are answered only once it has started: before every job is open again, one would find
      // no ledger. A term that cannot resume its jobs must not lead half-way: the lease goes to another coordinator.
      await terms.elected().catch((err: unknown) => {
        log.error({ err }, "could not take over; stepping down");
        throw err;
      });
    },
    waiting: () =>
      Object.fromEntries(
        TASK_KINDS.flatMap(({ kind }) =>
          LANES.map((lane) => [taskConsumer(lane.name, kind), terms.current.dispatcher.waiting(lane.name, kind)]),
        ),
      ),
    onDeposed: () => terms.deposed(),
  });
  await lease.start();

  const notLeader = () => new NotLeaderError(lease.leader()?.address || undefined);
  const isLeader = () => terms.leading && lease.valid();
  const jobService: ServiceImpl<typeof JobService> = routeToLeader(JobService, () => terms.current.jobService, {
    leaderOnly: LEADER_JOB_METHODS,
    isLeader,
    notLeader,
  });
  const clusterService: ServiceImpl<typeof ClusterService> = routeToLeader(
    ClusterService,
    () => terms.current.clusterService,
    {
      leaderOnly: LEADER_CLUSTER_METHODS,
      isLeader,
      notLeader,
    },
  );

  return {
    id,
    jobService,
    clusterService,
    get lifecycle() {
      return terms.current.lifecycle;
    },
    membership,
    get assignments() {
      return terms.current.assignments;
    },
    /** Deletes the expired jobs now (a batch), as the leader's periodic sweep does. */
    sweepExpired: () => terms.current.retention?.sweep() ?? Promise.resolve(0),
    jobs,
    results,
    chunks,
    /** True while this process leads. */
    isLeader,
    /** The leader as last seen (this process included), for health and metrics. */
    leader: () => lease.leader(),
    /** The task consumer's counters for one lane of a kind (metrics). */
    laneStats: (lane: LaneName, kind?: TaskKind) => laneStats(lane, kind),
    /**
     * Every chunk not yet delivered to a worker, per lane and in all, of one kind or of every kind: what the
     * autoscaler reads (/backlog, /backlog/<kind>).
     */
    backlog: (kind?: TaskKind) => backlogOf((lane, k) => laneStats(lane, k), kind),
    /** Ends every open WatchJob stream (their clients resume with after_sequence). */
    endStreams(): void {
      closing.abort();
    },
    async close(): Promise<void> {
      closing.abort();
      await lease.close();
      await terms.current.stop();
      following.stop();
      await membership.stop();
    },
  };
}

export type Coordinator = Awaited<ReturnType<typeof startCoordinator>>;
