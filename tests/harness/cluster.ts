/**
 * A whole cluster on loopback: NATS, S3, the coordinator, N workers and the gateway, each a real process on
 * its own free port, with typed clients for tests and a storage client for assertions.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { internalBearer, type Storage } from "@imgc/common";
import { ClusterService, JobService } from "@imgc/proto";
import { type ClusterCredentials, createClusterCredentials } from "../../scripts/lib/cluster-credentials.js";
import { freePort } from "../../scripts/lib/free-port.js";
import { type NatsHandle, type S3Handle, startNats, startS3, storageFor } from "./infra.js";
import { type Service, startService } from "./service.js";

export interface ClusterOptions {
  /** Workers started with the cluster (default 2), named worker-1, worker-2, … */
  workers?: number;
  /** IMGC_* variables for every service, over the harness's defaults. */
  env?: Record<string, string>;
  /** IMGC_* variables for the workers only. */
  workerEnv?: Record<string, string>;
}

export interface Cluster {
  nats: NatsHandle;
  /**
   * The cluster's throwaway internal credentials: its signing key's tokens (`mint`, `operatorToken`) and NATS
   * users. Every process got its own (each worker a token naming its id), as production does.
   */
  credentials: ClusterCredentials;
  s3: S3Handle;
  /** The coordinator running now (restartCoordinator() replaces it). */
  readonly coordinator: Service;
  /** Every coordinator started so far, the current one last. */
  readonly coordinators: readonly Service[];
  /** Every worker started so far, addWorker() included, dead or alive. */
  workers: Service[];
  gateway: Service;
  addresses: {
    nats: string;
    s3: string;
    /** host:port of the coordinator's gRPC (ClusterService, JobService for internal callers). */
    coordinator: string;
    /** http://host:port of the coordinator's /metrics, /healthz and /readyz. */
    coordinatorHttp: string;
    /** http://host:port of the gateway's HTTP/1.1 port (Connect, gRPC-Web, web client). */
    gatewayHttp: string;
    /** http://host:port of the gateway's HTTP/2 cleartext port (gRPC). */
    gatewayGrpc: string;
  };
  /** The IMGC_* variables every service got (each also got its own credentials: `credentials`). */
  env: Readonly<Record<string, string>>;
  /** JobService on the gateway over Connect (HTTP/1.1). */
  jobs: Client<typeof JobService>;
  /** JobService on the gateway over gRPC (HTTP/2). */
  jobsGrpc: Client<typeof JobService>;
  /** ClusterService on the coordinator over gRPC, with the operator's token. */
  cluster: Client<typeof ClusterService>;
  storage: Storage;
  /** Starts one more worker (worker-<n>) and waits until it is ready. */
  addWorker(env?: Record<string, string>): Promise<Service>;
  /**
   * Starts the coordinator again on the same port with the same configuration, once the current one has
   * exited (kill it first to test a crash; a running one is stopped gracefully). Resolves when it is ready.
   */
  restartCoordinator(): Promise<Service>;
  /** Every log file of the cluster's processes. */
  logFiles(): string[];
  /** Stops the services (gracefully), then NATS and S3. Safe to call twice. */
  stop(): Promise<void>;
}

/** Timings short enough for tests to see failures handled within seconds. */
export const testTimings: Record<string, string> = {
  IMGC_ACK_WAIT_MS: "5000",
  IMGC_WORKER_TIMEOUT_MS: "3000",
  IMGC_HEARTBEAT_MS: "1000",
  IMGC_MAX_DELIVER: "5",
  IMGC_LOG_LEVEL: "info",
};

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  // Stopped last to first, each layer at once: clients, then workers and gateway, the coordinator, NATS and S3.
  const layers = { infra: [], coordinator: [], edge: [], clients: [] } as Record<
    "infra" | "coordinator" | "edge" | "clients",
    (() => Promise<unknown>)[]
  >;
  const stopAll = async () => {
    for (const layer of [layers.clients, layers.edge, layers.coordinator, layers.infra]) {
      await Promise.allSettled(layer.splice(0).map((stop) => stop()));
    }
  };
  try {
    const credentials = createClusterCredentials();
    const [nats, s3] = await settleAll(layers.infra, [startNats({ users: credentials.nats }), startS3()] as const);
    const [coordinatorPort, coordinatorHttpPort, gatewayPort, gatewayGrpcPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const coordinatorAddress = `127.0.0.1:${coordinatorPort}`;
    const env: Record<string, string> = {
      IMGC_NATS_URL: nats.url,
      IMGC_S3_ENDPOINT: s3.url,
      IMGC_S3_ACCESS_KEY: s3.accessKey,
      IMGC_S3_SECRET_KEY: s3.secretKey,
      IMGC_S3_BUCKET: s3.bucket,
      IMGC_S3_REGION: "us-east-1",
      IMGC_COORDINATOR_URL: coordinatorAddress,
      ...testTimings,
      ...options.env,
    };

    const startCoordinator = async () => {
      const started = await startService("coordinator", {
        ...credentials.coordinatorEnv(),
        ...env,
        IMGC_COORDINATOR_HOST: "127.0.0.1",
        IMGC_COORDINATOR_PORT: String(coordinatorPort),
        IMGC_COORDINATOR_HTTP_PORT: String(coordinatorHttpPort),
      });
      layers.coordinator.push(() => started.stop());
      return started;
    };
    let coordinator = await startCoordinator();
    /** Every coordinator started, for the logs. */
    const coordinators = [coordinator];
    const restartCoordinator = async () => {
      await coordinator.stop();
      coordinator = await startCoordinator();
      coordinators.push(coordinator);
      return coordinator;
    };

    const workers: Service[] = [];
    let workerCount = 0;
    const addWorker = async (extra: Record<string, string> = {}) => {
      const name = `worker-${++workerCount}`;
      const id = extra.IMGC_WORKER_ID ?? options.workerEnv?.IMGC_WORKER_ID ?? name;
      const worker = await startService(
        "worker",
        // Port 0: each worker's metrics and health port is its own (its "ready" line says which).
        {
          ...credentials.workerEnv(id),
          ...env,
          IMGC_WORKER_ID: name,
          IMGC_WORKER_HTTP_PORT: "0",
          ...options.workerEnv,
          ...extra,
        },
        { name },
      );
      workers.push(worker);
      layers.edge.push(() => worker.stop());
      return worker;
    };
    const workersReady = Array.from({ length: options.workers ?? 2 }, () => addWorker());
    const gatewayReady = startService("gateway", {
      ...credentials.gatewayEnv(),
      ...env,
      IMGC_GATEWAY_HOST: "127.0.0.1",
      IMGC_GATEWAY_PORT: String(gatewayPort),
      IMGC_GATEWAY_GRPC_PORT: String(gatewayGrpcPort),
    });
    // Let every start finish (addWorker registers the workers that came up) before judging any of them.
    await Promise.allSettled([gatewayReady, ...workersReady]);
    const [gateway] = await settleAll(layers.edge, [gatewayReady] as const);
    await settleAll([], workersReady);

    const gatewayHttp = `http://127.0.0.1:${gatewayPort}`;
    const gatewayGrpc = `http://127.0.0.1:${gatewayGrpcPort}`;
    const coordinatorUrl = `http://${coordinatorAddress}`;
    // Our own HTTP/2 sessions, so that stop() can close them and the test process exits promptly.
    const sessions = [new Http2SessionManager(gatewayGrpc), new Http2SessionManager(coordinatorUrl)];
    layers.clients.push(async () => {
      for (const session of sessions) session.abort();
    });
    const [gatewaySession, coordinatorSession] = sessions as [Http2SessionManager, Http2SessionManager];

    const storage = storageFor(s3);
    const logFiles = () =>
      [
        nats.logFile,
        s3.logFile,
        ...coordinators.map((c) => c.logFile),
        ...workers.map((w) => w.logFile),
        gateway.logFile,
      ].filter((file): file is string => file !== undefined);
    return {
      nats,
      credentials,
      s3,
      get coordinator() {
        return coordinator;
      },
      coordinators,
      workers,
      gateway,
      addresses: {
        nats: nats.url,
        s3: s3.url,
        coordinator: coordinatorAddress,
        coordinatorHttp: `http://127.0.0.1:${coordinatorHttpPort}`,
        gatewayHttp,
        gatewayGrpc,
      },
      env,
      jobs: createClient(JobService, createConnectTransport({ baseUrl: gatewayHttp, httpVersion: "1.1" })),
      jobsGrpc: createClient(JobService, createGrpcTransport({ baseUrl: gatewayGrpc, sessionManager: gatewaySession })),
      cluster: createClient(
        ClusterService,
        createGrpcTransport({
          baseUrl: coordinatorUrl,
          sessionManager: coordinatorSession,
          interceptors: internalBearer(credentials.operatorToken),
        }),
      ),
      storage,
      addWorker,
      restartCoordinator,
      logFiles,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Waits for every start (never leaving one running unseen), registers a stop for each that succeeded, then
 * throws the first failure.
 */
async function settleAll<T extends readonly Promise<{ stop(): Promise<unknown> }>[]>(
  layer: (() => Promise<unknown>)[],
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(starts);
  for (const result of settled) {
    if (result.status === "fulfilled") layer.push(() => result.value.stop());
  }
  const failed = settled.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}
