/**
 * The coordinator process: config from IMGC_* variables, NATS, S3, the gRPC server, the HTTP port of
 * /metrics, /healthz and /readyz. SIGTERM or SIGINT stops it gracefully and exits 0; a second signal exits at
 * once. A bad configuration exits 2 (common/src/run-main.ts).
 */

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  ConfigError,
  connectNats,
  createLogger,
  createMetricsRegistry,
  createStorage,
  grpcChannelCredentials,
  grpcHealthProbe,
  grpcServerCredentials,
  loadMetricsToken,
  loadTls,
  loadVerifier,
  natsAuthOptions,
  natsReadiness,
  runMain,
  startHealthServer,
} from "@imgc/common";
import { ClusterService, JobService } from "@imgc/proto";
import { authorize, authorizeLike } from "./auth/authorize.js";
import { fetchPortList, listOf, loadCoordinatorConfig, retentionByTenant } from "./config.js";
import { startCoordinator } from "./coordinator.js";
import { uploadsExpiryDays } from "./jobs/retention.js";
import { webhookSecrets } from "./jobs/webhook.js";
import { createCoordinatorMetrics } from "./metrics/coordinator-metrics.js";
import { backlogRoutes } from "./scheduler/backlog.js";
import { build, createHealth, listen } from "./server.js";

await runMain("coordinator", async () => {
  const config = loadCoordinatorConfig();
  // Secure by default: no public key, NATS credentials or metrics token, no start (unless IMGC_INSECURE_INTERNAL=1).
  const verifier = loadVerifier(config);
  const tls = loadTls(config);
  // Its readiness probes its own port, so a coordinator serving TLS needs the CA that signed its certificate.
  if (tls?.cert && !tls.ca)
    throw new ConfigError([
      "IMGC_TLS_CA is not set, but IMGC_TLS_CERT is: the coordinator checks its own port with it",
    ]);
  const natsAuth = natsAuthOptions(config);
  const metricsToken = loadMetricsToken(config, "coordinator");
  const retentionTenants = retentionByTenant(config.retentionDaysByTenant);
  const fetchPorts = fetchPortList(config.fetchPorts);
  const log = createLogger("coordinator", config.logLevel);
  if (config.insecureInternal) {
    log.warn("INSECURE INTERNAL PLANE: IMGC_INSECURE_INTERNAL=1, so callers without a valid token may be obeyed");
  }
  const nc = await connectNats(config.natsUrl, "imgc-coordinator", log, natsAuth);
  const storage = createStorage(config);
  await storage.ensureBucket();
  const retention = {
    days: config.retentionDays,
    tenants: retentionTenants,
    sweepMs: config.retentionSweepMs,
    dayMs: config.retentionDayMs,
  };
  // A backstop for uploads that no job deletion reaches (never submitted, or lost): the store expires them a day
  // after the longest retention. Stores without lifecycle rules (s3rver) leave it to the deletions alone.
  const uploadsDays = uploadsExpiryDays(retention);
  storage.expireAfter("uploads/", uploadsDays).then(
    () => log.info({ days: uploadsDays }, "lifecycle rule on uploads/ set"),
    (err: Error) =>
      log.warn({ err: err.message }, "the object store took no lifecycle rule; uploads go with their jobs"),
  );
  const registry = createMetricsRegistry();
  const metrics = createCoordinatorMetrics(registry, log);
  // Known once the gRPC server is bound (the port may be 0); a leader elected before says so at its next renewal.
  let advertised = config.advertise;
  const coordinator = await startCoordinator({
    nc,
    storage,
    log,
    observer: metrics.observer,
    leadership: {
      id: config.coordinatorId || `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
      address: () => advertised,
      leaseMs: config.leaseMs,
    },
    settings: {
      ackWaitMs: config.ackWaitMs,
      maxDeliver: config.maxDeliver,
      workerTimeoutMs: config.workerTimeoutMs,
      workerTtlMs: config.workerTtlMs,
      chunk: { maxItems: config.chunkMaxItems, maxBytes: config.chunkMaxBytes, minCount: config.chunkMinCount },
      jobMaxItems: config.jobMaxItems,
      urlTtlS: config.urlTtlS,
      retention,
      fetch: {
        allow: listOf(config.fetchAllow),
        allowedHosts: listOf(config.fetchAllowedHosts),
        maxBytes: config.fetchMaxBytes,
        timeoutMs: config.fetchTimeoutMs,
        ports: fetchPorts,
        maxConcurrent: config.fetchMaxConcurrent,
      },
      quota: { maxOpenJobs: config.tenantMaxOpenJobs, maxOpenItems: config.tenantMaxOpenItems },
      sourceReaders: listOf(config.sourceReaders),
      webhook: {
        secretFor: webhookSecrets(config.webhookSecrets, config.webhookSecret),
        maxAttempts: config.webhookMaxAttempts,
      },
    },
  });
  metrics.track({
    openJobs: () => coordinator.lifecycle.openJobIds().length,
    isLeader: coordinator.isLeader,
    workers: () => coordinator.membership.list(),
    laneStats: coordinator.laneStats,
  });
  const health = createHealth();
  const server = build({
    jobService: metrics.jobService(authorize(JobService, coordinator.jobService, { verifier, log })),
    clusterService: metrics.clusterService(authorize(ClusterService, coordinator.clusterService, { verifier, log })),
    log,
    health,
  });
  const port = await listen(server, config.host, config.port, grpcServerCredentials(tls));
  const reachable = config.host === "0.0.0.0" || config.host === "::" ? hostname() : config.host;
  advertised ||= `${reachable}:${port}`;
  // Ready means: this gRPC server answers its own health service (NOT_SERVING once stopping), and NATS and
  // S3 answer.
  const self = grpcHealthProbe(
    `${config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host}:${port}`,
    grpcChannelCredentials(tls, true),
  );
  const http = await startHealthServer({
    host: config.host,
    port: config.httpPort,
    log,
    registry,
    ...(metricsToken === undefined ? {} : { metricsToken }),
    checks: { grpc: self.check, nats: natsReadiness(() => nc), s3: () => storage.ping() },
    routes: backlogRoutes(coordinator.backlog),
    // The backlog is GetQueueStats' figure: the same callers may read it (an operator token for the autoscaler).
    authorizeRoutes: authorizeLike(ClusterService, "getQueueStats", { verifier, log }),
  });
  log.info(
    { host: config.host, port, httpPort: http.port, id: coordinator.id, leader: coordinator.isLeader() },
    "ready",
  );

  return {
    log,
    async close() {
      health.setStatus("", "NOT_SERVING");
      coordinator.endStreams();
      // Finish the calls in flight (a worker's report must not be cut in half), but not forever.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 10_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await coordinator.close();
      self.close();
      await http.close();
      await nc.drain();
    },
  };
});
