/**
 * A worker process's parts, wired from its config: NATS, S3, the coordinator's client, the engine pools, the
 * result cache, metrics and the health port. `build` starts them all and returns once the worker pulls; main.ts
 * runs it under runMain. Closing drains: held chunks finish (or are released past IMGC_DRAIN_TIMEOUT_MS), then
 * everything closes; `hurry` releases held chunks at once.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import {
  connectNats,
  createGrpcJsClient,
  createLogger,
  createMetricsRegistry,
  createStorage,
  grpcChannelCredentials,
  grpcHealthProbe,
  internalGrpcOptions,
  loadMetricsToken,
  loadTls,
  loadToken,
  natsAuthOptions,
  natsReadiness,
  openWorkerTopology,
  type Service,
  startHealthServer,
  TASK_KINDS,
} from "@imgc/common";
import { ClusterService } from "@imgc/proto";
import type { WorkerConfig } from "./config.js";
import { createCoordinatorClient } from "./coordinator-client.js";
import { createEnginePool } from "./engine-pool.js";
import { createWorkerMetrics } from "./metrics/worker-metrics.js";
import { objectStoreFrom } from "./object-store.js";
import { createItemProcessor } from "./process-item.js";
import { createResultCache, openCacheBucket } from "./result-cache.js";
import { createWorker, type Worker } from "./worker.js";

export interface WorkerProcess extends Service {
  worker: Worker;
  /** The port of /metrics, /healthz and /readyz (the config's, or the one picked for 0). */
  httpPort: number;
  /** Settles once the worker has drained or stopped, whoever asked. */
  done: Promise<void>;
}

export interface BuildDeps {
  /** Node flags of the engine children; this process's own by default (tests, which run without tsx's flag). */
  execArgv?: string[];
}

export async function build(config: WorkerConfig, deps: BuildDeps = {}): Promise<WorkerProcess> {
  // Secure by default: no token, NATS credentials or metrics token, no start (unless IMGC_INSECURE_INTERNAL=1).
  const internal = {
    token: loadToken(config, "worker"),
    nats: natsAuthOptions(config),
    tls: loadTls(config),
    metricsToken: loadMetricsToken(config, "worker"),
  };
  const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
    .version;
  const log = createLogger("worker", config.logLevel).child({ workerId: config.workerId });
  // Its NATS user may pull, ack, heartbeat and use the cache, not shape the topology: a coordinator does that.
  const nc = await connectNats(config.natsUrl, `imgc-worker-${config.workerId}`, log, internal.nats);
  const topology = await openWorkerTopology(nc, log);
  const storage = createStorage(config);
  const client = createGrpcJsClient(
    ClusterService,
    config.coordinatorUrl,
    internalGrpcOptions(internal.token),
    grpcChannelCredentials(internal.tls),
  );
  // Images are compressed in child processes, one per slot: a hung decoder is killed at the deadline.
  // Children are replaced between images after engineMaxItems or past engineMaxRssMb: libvips and the allocator
  // keep memory a long-lived child no longer needs. A worker that detects has a second pool, whose children each
  // load the model once; a worker that does not never loads it (IMGC_WORKER_TASKS).
  const pool = (task: "compress" | "detect") =>
    createEnginePool({
      size: config.slots,
      log,
      task,
      maxItemsPerChild: config.engineMaxItems,
      maxRssBytes: config.engineMaxRssMb * 1_048_576,
      ...(deps.execArgv ? { execArgv: deps.execArgv } : {}),
    });
  const engine = config.tasks.includes("compress") ? pool("compress") : undefined;
  const detector = config.tasks.includes("detect") ? pool("detect") : undefined;
  const capabilities = TASK_KINDS.filter((kind) => config.tasks.includes(kind.name)).map((kind) => kind.kind);
  const cache =
    config.cacheTtlMs > 0
      ? createResultCache(await openCacheBucket(nc.jetstream(), config.cacheTtlMs), `imgc-worker-${version}`, log)
      : undefined;

  const registry = createMetricsRegistry();
  const metrics = createWorkerMetrics(registry, log);

  const worker = createWorker({
    nc,
    workers: topology.workers,
    coordinator: metrics.coordinator(createCoordinatorClient({ client, workerId: config.workerId, log })),
    processItem: metrics.processItem(
      createItemProcessor({
        store: objectStoreFrom(storage),
        ...(engine ? { engine } : {}),
        ...(detector ? { detector } : {}),
        ...(cache ? { cache } : {}),
        limits: {
          maxInputBytes: config.maxInputBytes,
          maxPixels: config.maxPixels,
          maxFrames: config.maxFrames,
          timeoutMs: config.itemTimeoutMs,
        },
        workerId: config.workerId,
        defaultBucket: storage.bucket,
        log,
      }),
    ),
    identity: {
      id: config.workerId,
      host: hostname(),
      pid: process.pid,
      version,
      slots: config.slots,
      startedAt: new Date(),
      capabilities,
    },
    heartbeatMs: config.heartbeatMs,
    ackWaitMs: config.ackWaitMs,
    drainTimeoutMs: config.drainTimeoutMs,
    log,
  });

  // A worker takes chunks only once an engine child of each kind is up: its first images must not time out
  // waiting for one (a detect child is up once its model is loaded).
  await Promise.all([engine?.ready(), detector?.ready()]);
  metrics.track(() => worker.status());
  // Workers have no gRPC server: this HTTP port is their health interface (and Prometheus target). It listens
  // before the worker registers, so a port clash stops it before it takes any work.
  const coordinatorProbe = grpcHealthProbe(config.coordinatorUrl, grpcChannelCredentials(internal.tls));
  const http = await startHealthServer({
    host: config.httpHost,
    port: config.httpPort,
    log,
    registry,
    ...(internal.metricsToken === undefined ? {} : { metricsToken: internal.metricsToken }),
    checks: { nats: natsReadiness(() => nc), s3: () => storage.ping(), coordinator: coordinatorProbe.check },
  });

  await worker.start();
  // workerId comes with the child logger's bindings.
  log.info(
    {
      slots: config.slots,
      tasks: config.tasks,
      coordinator: config.coordinatorUrl,
      cache: cache !== undefined,
      httpPort: http.port,
    },
    "ready",
  );

  return {
    log,
    worker,
    httpPort: http.port,
    done: worker.done,
    // The drain is bounded (held chunks are released past the drain timeout, and every NATS and gRPC call has a
    // deadline), but an exit must not depend on that: a stuck process would hold its slot in the orchestrator.
    closeTimeoutMs: config.drainTimeoutMs + 30_000,
    hurry: () => void worker.stop(),
    async close() {
      void worker.drain();
      await worker.done;
      client.close();
      coordinatorProbe.close();
      await http.close();
      await Promise.all([engine?.close(), detector?.close()]);
      // drain() flushes the acks and naks still buffered before closing; with NATS unreachable it would wait for
      // the server, so it gets a few seconds.
      await Promise.race([
        nc.drain().catch((err: unknown) => log.warn({ err }, "closing NATS failed")),
        new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
      ]);
    },
  };
}
