/**
 * The coordinator's metrics: the cluster as a whole. Jobs submitted and ended, every item once as it is
 * recorded (state, error code, bytes, duration by format), chunk claims, redeliveries and republishes, RPCs
 * by method and code; and, read when Prometheus scrapes, the open jobs, the live workers and their slots, and
 * each priority lane's queue depth and ack-pending count from JetStream.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import {
  Counter,
  createItemMetrics,
  createRpcMetrics,
  Gauge,
  LANES,
  type LaneName,
  type Logger,
  type Registry,
  TASK_KINDS,
  type TaskKindName,
} from "@imgc/common";
import {
  ClusterService,
  JobService,
  JobState,
  Priority,
  type TaskKind,
  TERMINAL_JOB_STATES,
  type WorkerStatus,
} from "@imgc/proto";
import type { CoordinatorObserver } from "../coordinator.js";
import type { LaneCounters } from "../services/cluster-service.js";

/** What the scrape-time gauges read: the running coordinator. */
export interface CoordinatorMetricsSources {
  openJobs(): number;
  /** This coordinator leads (1) or follows (0); exactly one per cluster should say 1. */
  isLeader?(): boolean;
  workers(): readonly WorkerStatus[];
  laneStats(lane: LaneName, kind: TaskKind): Promise<LaneCounters>;
}

const lower = (name: string | undefined) => (name ?? "unspecified").toLowerCase();

/**
 * The counters exist from the start (the observer goes into startCoordinator); the gauges read `sources`
 * once `track` has been given them, and have no series before.
 */
export function createCoordinatorMetrics(registry: Registry, log: Logger) {
  let sources: CoordinatorMetricsSources | undefined;
  const items = createItemMetrics(registry, "imgc_", "cluster-wide, each item once");
  const rpc = createRpcMetrics(registry);

  const submitted = new Counter({
    name: "imgc_jobs_submitted_total",
    help: "Jobs accepted by SubmitJob (an idempotent repeat is not counted), by priority",
    labelNames: ["priority"] as const,
    registers: [registry],
  });
  const ended = new Counter({
    name: "imgc_jobs_ended_total",
    help: "Jobs that reached a terminal state, by state",
    labelNames: ["state"] as const,
    registers: [registry],
  });
  const claims = new Counter({
    name: "imgc_chunk_claims_total",
    help: "Chunks claimed by workers (ClaimChunk)",
    registers: [registry],
  });
  const redeliveries = new Counter({
    name: "imgc_chunk_redeliveries_total",
    help: "Claims of a chunk the queue delivered more than once (AckWait expired, or nak'd)",
    registers: [registry],
  });
  const republished = new Counter({
    name: "imgc_chunks_republished_total",
    help: "Chunks put back on the queue at once because their worker was gone",
    registers: [registry],
  });
  const duplicates = new Counter({
    name: "imgc_duplicate_reports_total",
    help: "ReportItem calls for an item that already had a result (ignored)",
    registers: [registry],
  });
  for (const lane of LANES) submitted.inc({ priority: lane.name }, 0);
  for (const state of TERMINAL_JOB_STATES) {
    ended.inc({ state: lower(JobState[state]) }, 0);
  }

  new Gauge({
    name: "imgc_coordinator_leader",
    help: "1 while this coordinator leads, 0 while it follows",
    registers: [registry],
    collect() {
      if (sources?.isLeader) this.set(sources.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: "imgc_jobs_active",
    help: "Jobs not yet ended",
    registers: [registry],
    collect() {
      if (sources) this.set(sources.openJobs());
    },
  });
  const perWorker = (help: string, name: string, value: (workers: readonly WorkerStatus[]) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (sources) this.set(value(sources.workers()));
      },
    });
  perWorker("Live workers (a heartbeat within IMGC_WORKER_TIMEOUT_MS)", "imgc_workers_alive", (w) => w.length);
  perWorker("Live workers that are draining", "imgc_workers_draining", (w) => w.filter((x) => x.draining).length);
  perWorker("Chunk slots over the live workers", "imgc_cluster_slots", (w) => w.reduce((n, x) => n + x.slots, 0));
  perWorker("Busy chunk slots over the live workers", "imgc_cluster_slots_busy", (w) =>
    w.reduce((n, x) => n + x.busy, 0),
  );
  perWorker(
    "Items per second over the live workers (each worker's last minute)",
    "imgc_cluster_items_per_second",
    (w) => w.reduce((n, x) => n + x.itemsPerSecond, 0),
  );

  // One JetStream round trip per lane per scrape, shared by the three gauges below (a scrape collects them
  // all at once; the short reuse window spans exactly that).
  type LaneLabels = { priority: LaneName; kind: TaskKindName };
  let lanes: Promise<[LaneLabels, LaneCounters][]> | undefined;
  let lanesAt = 0;
  function laneCounters(from: CoordinatorMetricsSources): Promise<[LaneLabels, LaneCounters][]> {
    if (!lanes || Date.now() - lanesAt > 250) {
      lanesAt = Date.now();
      lanes = Promise.all(
        TASK_KINDS.flatMap(({ kind, name }) =>
          LANES.map(
            async (lane) =>
              [{ priority: lane.name, kind: name }, await from.laneStats(lane.name, kind)] as [
                LaneLabels,
                LaneCounters,
              ],
          ),
        ),
      );
      lanes.catch((err: unknown) => {
        log.warn({ err: String(err) }, "queue metrics unavailable");
        lanes = undefined;
      });
    }
    return lanes;
  }
  const perLane = (name: string, help: string, value: (counters: LaneCounters) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["priority", "kind"] as const,
      registers: [registry],
      async collect() {
        this.reset();
        if (!sources) return;
        // A scrape while NATS is down shows no queue series rather than failing whole.
        const counters = await laneCounters(sources).catch(() => undefined);
        if (!counters) return;
        for (const [labels, stats] of counters) this.set(labels, value(stats));
      },
    });
  perLane("imgc_queue_pending", "Chunks waiting to be delivered, per priority lane and kind of work", (s) => s.pending);
  perLane(
    "imgc_queue_ack_pending",
    "Chunks delivered and not yet acknowledged, per priority lane and kind of work",
    (s) => s.ackPending,
  );
  perLane(
    "imgc_queue_redelivered",
    "Chunks delivered more than once and not yet acknowledged, per priority lane and kind of work",
    (s) => s.redelivered,
  );

  const observer: CoordinatorObserver = {
    recorded(results) {
      for (const result of results) items.observe(result);
    },
    ended(job) {
      ended.inc({ state: lower(JobState[job.state]) });
    },
    republished() {
      republished.inc();
    },
  };

  return {
    /** Pass to startCoordinator. */
    observer,
    /** The running coordinator, for the gauges. */
    track(running: CoordinatorMetricsSources): void {
      sources = running;
    },
    /** JobService with RPC metrics and submitted jobs counted. */
    jobService(impl: ServiceImpl<typeof JobService>): ServiceImpl<typeof JobService> {
      return rpc.instrument(JobService, {
        ...impl,
        async submitJob(request, context) {
          const response = await impl.submitJob(request, context);
          if (response.created && response.job) {
            submitted.inc({ priority: lower(Priority[response.job.priority ?? Priority.NORMAL]) });
          }
          return response;
        },
      });
    },
    /** ClusterService with RPC metrics, claims, redeliveries and duplicate reports counted. */
    clusterService(impl: ServiceImpl<typeof ClusterService>): ServiceImpl<typeof ClusterService> {
      return rpc.instrument(ClusterService, {
        ...impl,
        async claimChunk(request, context) {
          const response = await impl.claimChunk(request, context);
          claims.inc();
          if (request.delivery > 1) redeliveries.inc();
          return response;
        },
        async reportItem(request, context) {
          const response = await impl.reportItem(request, context);
          if (!response.accepted && !response.cancelled) duplicates.inc();
          return response;
        },
      });
    },
  };
}
