/** The coordinator process: config from IMGC_* variables, NATS, S3, the gRPC server; graceful stop on signals. */
import { ConfigError, connectNats, createLogger, createStorage } from "@imgc/common";
import { loadCoordinatorConfig } from "./config.js";
import { startCoordinator } from "./coordinator.js";
import { build, createHealth, listen } from "./server.js";

async function main(): Promise<void> {
  let config: ReturnType<typeof loadCoordinatorConfig>;
  try {
    config = loadCoordinatorConfig();
  } catch (err) {
    if (!ConfigError.isConfigError(err)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const log = createLogger("coordinator", config.logLevel);
  const nc = await connectNats(config.natsUrl, "imgc-coordinator", log);
  const storage = createStorage(config);
  await storage.ensureBucket();
  const coordinator = await startCoordinator({
    nc,
    storage,
    log,
    settings: {
      ackWaitMs: config.ackWaitMs,
      maxDeliver: config.maxDeliver,
      workerTimeoutMs: config.workerTimeoutMs,
      workerTtlMs: config.workerTtlMs,
      chunk: { maxItems: config.chunkMaxItems, maxBytes: config.chunkMaxBytes, minCount: config.chunkMinCount },
      jobMaxItems: config.jobMaxItems,
      urlTtlS: config.urlTtlS,
    },
  });
  const health = createHealth();
  const server = build({ jobService: coordinator.jobService, clusterService: coordinator.clusterService, log, health });
  const port = await listen(server, config.host, config.port);
  log.info({ host: config.host, port }, "ready");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
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
    await nc.drain();
    log.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`coordinator failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
