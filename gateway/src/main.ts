/**
 * Starts the gateway: `node --import tsx gateway/src/main.ts`, configured by IMGC_* variables (see config.ts
 * and docs/protocol.md). Logs {"msg":"ready","port":…,"grpcPort":…} once both ports listen; SIGTERM or
 * SIGINT closes them, letting in-flight requests finish (for 10 s at most), and exits 0; a second signal exits at
 * once. A bad configuration exits 2 (common/src/run-main.ts).
 */
import { connectNats, createLogger, createStorage, loadTls, loadToken, natsAuthOptions, runMain } from "@imgc/common";
import { formatExactBytes } from "@imgc/proto";
import { loadGatewayConfig } from "./config.js";
import { originOf } from "./plugins/security-headers.js";
import { build } from "./server.js";
import {
  checkCoordinatorHealth,
  createClusterClient,
  createCoordinatorJobService,
  createCoordinatorTransport,
} from "./services/coordinator.js";

await runMain("gateway", async () => {
  const config = loadGatewayConfig();
  // Secure by default: dev mode relaxes the public API keys only, never the internal plane.
  const internal = { token: loadToken(config, "gateway"), nats: natsAuthOptions(config), tls: loadTls(config) };

  const log = createLogger("gateway", config.logLevel);
  const storage = createStorage(config);
  const transport = createCoordinatorTransport(config.coordinatorUrl, log, internal.token, internal.tls);

  // NATS matters only to readiness here, so the gateway serves (and reports "nats": "unreachable") while it
  // is still connecting, instead of waiting for it.
  let nats: Awaited<ReturnType<typeof connectNats>> | undefined;
  const natsConnecting = connectNats(config.natsUrl, "imgc-gateway", log, internal.nats).then((nc) => {
    nats = nc;
    return nc;
  });
  natsConnecting.catch((err: unknown) => log.error({ err }, "nats connection failed"));

  const gateway = await build({
    log,
    coordinator: createCoordinatorJobService(transport),
    cluster: createClusterClient(transport),
    storage,
    apiKeys: config.apiKeys,
    operatorKeys: config.operatorKeys,
    maxUploadBytes: config.maxUploadBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    maxZipsPerKey: config.maxZipsPerKey,
    maxWatchesPerKey: config.maxWatchesPerKey,
    s3Origin: originOf(config.s3PublicEndpoint || config.s3Endpoint),
    rateLimit: { perSecond: config.rateLimitRps, burst: config.rateLimitBurst },
    corsOrigins: config.corsOrigins,
    webDir: config.webDir,
    checks: {
      coordinator: (timeoutMs) => checkCoordinatorHealth(transport, timeoutMs),
      nats: async () => {
        if (nats === undefined || nats.isClosed()) throw new Error("not connected");
        await nats.flush();
      },
      s3: () => storage.ping(),
    },
  });

  if (config.apiKeys.size === 0) {
    log.warn(
      'DEV MODE (IMGC_DEV_MODE=1, no IMGC_API_KEYS): the gateway accepts every caller, unauthenticated, as tenant "default" and as an operator. Never expose it; set IMGC_API_KEYS=key:tenant,... instead.',
    );
  }

  await gateway.http.listen({ host: config.host, port: config.port });
  await gateway.grpc.listen({ host: config.host, port: config.grpcPort });
  const portOf = (address: ReturnType<typeof gateway.http.server.address>) =>
    typeof address === "object" && address !== null ? address.port : config.port;
  log.info(
    {
      port: portOf(gateway.http.server.address()),
      grpcPort: portOf(gateway.grpc.server.address()),
      host: config.host,
      coordinator: config.coordinatorUrl,
      web: gateway.web ? config.webDir : null,
      maxUpload: formatExactBytes(config.maxUploadBytes),
      rateLimit:
        config.rateLimitRps > 0 && config.rateLimitBurst > 0
          ? `${config.rateLimitRps}/s, burst ${config.rateLimitBurst}`
          : "off",
      tenants: new Set(config.apiKeys.values()).size,
    },
    "ready",
  );

  return {
    log,
    // Whatever still runs after this is cut off: a stuck stream must not keep the process alive.
    closeTimeoutMs: 10_000,
    async close() {
      await Promise.allSettled([gateway.http.close(), gateway.grpc.close()]);
      await nats?.drain().catch(() => undefined);
    },
  };
});
