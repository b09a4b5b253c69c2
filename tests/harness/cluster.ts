/**
 * A whole cluster on loopback: NATS, S3, the coordinator, N workers and the gateway, each a real process on
 * its own free port, with typed clients for tests and a storage client for assertions.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { createFailoverTransport, internalBearer, type Storage } from "@imgc/common";
import { ClusterService, JobService } from "@imgc/proto";
import { type ClusterCredentials, createClusterCredentials } from "../../scripts/lib/cluster-credentials.js";
import { freePort } from "../../scripts/lib/free-port.js";
import { type NatsHandle, type S3Handle, startNats, startS3, storageFor } from "./infra.js";
import { type Service, startService } from "./service.js";

export interface ClusterOptions {
  /** Workers started with the cluster (default 2), named worker-1, worker-2, … */
  workers?: number;
  /** Coordinators started with the cluster (default 1), each on its own ports; one of them leads. */
  coordinators?: number;
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
  /** The first coordinator running now (restartCoordinator() replaces it). */
  readonly coordinator: Service;
  /** Every coordinator started so far, the current ones last. */
  readonly coordinators: readonly Service[];
  /** The coordinator running now in each slot (options.coordinators of them). */
  coordinatorAt(slot: number): Service;
  /** The slot whose coordinator leads now (asks each one's /metrics), or undefined when none does. */
  leaderSlot(): Promise<number | undefined>;
  /** Every worker started so far, addWorker() included, dead or alive. */
  workers: Service[];
  gateway: Service;
  addresses: {
    nats: string;
    s3: string;
    /** host:port of the first coordinator's gRPC (ClusterService, JobService for internal callers). */
    coordinator: string;
    /** http://host:port of the first coordinator's /metrics, /healthz, /readyz and /backlog. */
    coordinatorHttp: string;
    /** Every coordinator's gRPC host:port, by slot. */
    coordinatorSlots: string[];
    /** Every coordinator's http://host:port, by slot. */
    coordinatorHttpSlots: string[];
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
  /** ClusterService over gRPC on whichever coordinator leads (it follows the leader like a worker does), as an operator. */
  cluster: Client<typeof ClusterService>;
  storage: Storage;
  /** Starts one more worker (worker-<n>) and waits until it is ready. */
  addWorker(env?: Record<string, string>): Promise<Service>;
  /**
   * Starts the coordinator of a slot (default 0) again on the same port with the same configuration, once the
   * current one has exited (kill it first to test a crash; a running one is stopped gracefully). Resolves when
   * it is ready.
   */
  restartCoordinator(slot?: number): Promise<Service>;
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
  // A dead leader is replaced within 2 s (plus a follower's poll).
  IMGC_LEASE_MS: "2000",
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
    const slots = Math.max(1, options.coordinators ?? 1);
    const [gatewayPort, gatewayGrpcPort, ...coordinatorPorts] = await Promise.all(
      Array.from({ length: 2 + 2 * slots }, () => freePort()),
    );
    const grpcPorts = coordinatorPorts.slice(0, slots) as number[];
    const httpPorts = coordinatorPorts.slice(slots) as number[];
    const coordinatorSlots = grpcPorts.map((port) => `127.0.0.1:${port}`);
    const coordinatorHttpSlots = httpPorts.map((port) => `http://127.0.0.1:${port}`);
    const coordinatorAddress = coordinatorSlots[0] as string;
    const env: Record<string, string> = {
      IMGC_NATS_URL: nats.url,
      IMGC_S3_ENDPOINT: s3.url,
      IMGC_S3_ACCESS_KEY: s3.accessKey,
      IMGC_S3_SECRET_KEY: s3.secretKey,
      IMGC_S3_BUCKET: s3.bucket,
      IMGC_S3_REGION: "us-east-1",
      IMGC_COORDINATOR_URL: coordinatorSlots.join(","),
      // The public API without keys, unless a test sets IMGC_API_KEYS (the gateway refuses to start keyless without it).
      IMGC_DEV_MODE: "1",
      ...testTimings,
      ...options.env,
    };

    const startCoordinator = async (slot: number) => {
      const started = await startService(
        "coordinator",
        {
          ...credentials.coordinatorEnv(),
          ...env,
          IMGC_COORDINATOR_ID: `coordinator-${slot + 1}`,
          IMGC_COORDINATOR_HOST: "127.0.0.1",
          IMGC_COORDINATOR_PORT: String(grpcPorts[slot]),
          IMGC_COORDINATOR_HTTP_PORT: String(httpPorts[slot]),
        },
        slots > 1 ? { name: `coordinator-${slot + 1}` } : {},
      );
      layers.coordinator.push(() => started.stop());
      return started;
    };
    // The first is up (and leads) before the others start, so tests begin with a known leader.
    const current: Service[] = [await startCoordinator(0)];
    for (let slot = 1; slot < slots; slot++) current.push(await startCoordinator(slot));
    /** Every coordinator started, for the logs. */
    const coordinators = [...current];
    const restartCoordinator = async (slot = 0) => {
      await current[slot]?.stop();
      const next = await startCoordinator(slot);
      current[slot] = next;
      coordinators.push(next);
      return next;
    };
    const leaderSlot = async () => {
      for (const [slot, base] of coordinatorHttpSlots.entries()) {
        // A frozen coordinator (SIGSTOP) accepts the connection and never answers.
        const metrics = await fetch(`${base}/metrics`, {
          headers: { authorization: `Bearer ${credentials.metricsToken}` },
          signal: AbortSignal.timeout(1_000),
        })
          .then((response) => response.text())
          .catch(() => "");
        if (/^imgc_coordinator_leader 1$/m.test(metrics)) return slot;
      }
      return undefined;
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
    // Our own HTTP/2 sessions, so that stop() can close them and the test process exits promptly.
    const gatewaySession = new Http2SessionManager(gatewayGrpc);
    const sessions = [gatewaySession];
    const coordinatorTransport = createFailoverTransport({
      addresses: coordinatorSlots,
      transportFor: (address) => {
        const session = new Http2SessionManager(`http://${address}`);
        sessions.push(session);
        return createGrpcTransport({
          baseUrl: `http://${address}`,
          sessionManager: session,
          interceptors: internalBearer(credentials.operatorToken),
        });
      },
    });
    layers.clients.push(async () => {
      for (const session of sessions) session.abort();
    });

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
        return current[0] as Service;
      },
      coordinators,
      coordinatorAt: (slot) => current[slot] as Service,
      leaderSlot,
      workers,
      gateway,
      addresses: {
        nats: nats.url,
        s3: s3.url,
        coordinator: coordinatorAddress,
        coordinatorHttp: coordinatorHttpSlots[0] as string,
        coordinatorSlots,
        coordinatorHttpSlots,
        gatewayHttp,
        gatewayGrpc,
      },
      env,
      jobs: createClient(JobService, createConnectTransport({ baseUrl: gatewayHttp, httpVersion: "1.1" })),
      jobsGrpc: createClient(JobService, createGrpcTransport({ baseUrl: gatewayGrpc, sessionManager: gatewaySession })),
      cluster: createClient(ClusterService, coordinatorTransport),
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
