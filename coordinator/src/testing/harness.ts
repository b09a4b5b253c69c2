/**
 * A coordinator for unit tests: real NATS (the caller's nats-server, or one of its own with startTestStack),
 * in-memory storage, and Connect clients over an in-memory router transport. `worker` plays a worker's side of
 * the protocol by hand.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  createLogger,
  decodeMessage,
  encodeMessage,
  sleep,
  TASKS_STREAM,
  taskConsumer,
  WORKERS_BUCKET,
} from "@imgc/common";
import {
  type Chunk,
  ChunkSchema,
  ClusterService,
  ErrorCode,
  ImageFormat,
  ItemResultSchema,
  ItemState,
  JobService,
  TaskKind,
  TENANT_HEADER,
  WorkerStatusSchema,
} from "@imgc/proto";
import type { NatsConnection } from "nats";
import { afterEach, beforeEach } from "vitest";
import { startTestNats, type TestNats } from "../../../scripts/lib/test-nats.js";
import { authorize } from "../auth/authorize.js";
import { type CoordinatorObserver, type CoordinatorSettings, startCoordinator } from "../coordinator.js";
import { createMemoryStorage, type MemoryStorage } from "./memory-storage.js";
import { testCredentials } from "./test-credentials.js";

export const testSettings: CoordinatorSettings = {
  ackWaitMs: 2_000,
  maxDeliver: 3,
  workerTimeoutMs: 1_000,
  workerTtlMs: 5_000,
  chunk: { maxItems: 4, maxBytes: 1024 * 1024, minCount: 2 },
  jobMaxItems: 1_000,
  urlTtlS: 600,
};

export interface TestCoordinatorOptions {
  storage?: MemoryStorage;
  settings?: Partial<CoordinatorSettings>;
  observer?: CoordinatorObserver;
  /** Wrappers around the secured services, as main.ts adds the metrics (securedTransport). */
  wrap?: ServiceWrappers;
}

export async function startTestCoordinator(nc: NatsConnection, options: TestCoordinatorOptions = {}) {
  const storage = options.storage ?? createMemoryStorage();
  const log = createLogger("coordinator-test", process.env.IMGC_TEST_LOG ?? "silent");
  const coordinator = await startCoordinator({
    nc,
    storage,
    log,
    settings: { ...testSettings, ...options.settings },
    reservationWaitMs: 500,
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const { transport, services, auth } = securedTransport(coordinator, options.wrap);
  return {
    coordinator,
    storage,
    auth,
    services,
    jobs: createClient(JobService, transport) as Client<typeof JobService>,
    cluster: createClient(ClusterService, transport) as Client<typeof ClusterService>,
  };
}

export interface TestStack {
  nats: TestNats;
  nc: NatsConnection;
  t: TestCoordinator;
  /** Closes the coordinator (the one in `t` now, after a restart too), the connection and NATS. */
  stop(): Promise<void>;
}

/** A nats-server of its own, a connection to it, and a test coordinator on it. */
export async function startTestStack(options: TestCoordinatorOptions = {}): Promise<TestStack> {
  const nats = await startTestNats();
  const nc = await nats.connect();
  const stack: TestStack = {
    nats,
    nc,
    t: await startTestCoordinator(nc, options),
    async stop() {
      await stack.t.coordinator.close();
      await nc.close();
      await nats.stop();
    },
  };
  return stack;
}

/** A stack started before each test and stopped after it; `use` gets each new one. */
export function useTestStack(use: (stack: TestStack) => void, options: TestCoordinatorOptions = {}): void {
  let stack: TestStack | undefined;
  beforeEach(async () => {
    stack = await startTestStack(options);
    use(stack);
  });
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });
}

type Services = Pick<Awaited<ReturnType<typeof startCoordinator>>, "jobService" | "clusterService">;

/**
 * The coordinator's services secured as in production (behind the authorization wrapper, `wrap` applied
 * outside it, as main.ts applies the metrics), and an in-memory transport whose calls carry the token the real
 * caller of each method would hold (test-credentials.ts).
 */
interface ServiceWrappers {
  jobService?: (impl: Services["jobService"]) => Services["jobService"];
  clusterService?: (impl: Services["clusterService"]) => Services["clusterService"];
}

export function securedTransport(coordinator: Services, wrap: ServiceWrappers = {}) {
  const auth = testCredentials();
  const services: Services = {
    jobService: authorize(JobService, coordinator.jobService, { verifier: auth.verifier }),
    clusterService: authorize(ClusterService, coordinator.clusterService, { verifier: auth.verifier }),
  };
  const jobService = wrap.jobService?.(services.jobService) ?? services.jobService;
  const clusterService = wrap.clusterService?.(services.clusterService) ?? services.clusterService;
  const transport = createRouterTransport(
    ({ service }) => {
      service(JobService, jobService);
      service(ClusterService, clusterService);
    },
    { transport: { interceptors: [auth.asRealCaller] } },
  );
  return { transport, services, auth };
}

export type TestCoordinator = Awaited<ReturnType<typeof startTestCoordinator>>;

export const tenantHeader = (tenant: string) => ({ headers: { [TENANT_HEADER]: tenant } });

/** Pulls up to `max` chunks of a kind from a lane, as a worker would (the messages stay unacked until `ack`). */
export async function pullChunks(
  nc: NatsConnection,
  max: number,
  lane: "high" | "normal" | "low" = "normal",
  kind = TaskKind.COMPRESS,
) {
  const consumer = await nc.jetstream().consumers.get(TASKS_STREAM, taskConsumer(lane, kind));
  const batch = await consumer.fetch({ max_messages: max, expires: 1_000 });
  const out: { chunk: Chunk; delivery: number; ack(): void; nak(): void }[] = [];
  for await (const message of batch) {
    out.push({
      chunk: decodeMessage(ChunkSchema, message.data),
      delivery: message.info.redeliveryCount,
      ack: () => message.ack(),
      nak: () => message.nak(),
    });
  }
  return out;
}

/** A DONE result for an item, as a worker reports it (its output at the chunk's `outputPrefix`). */
export function doneResult(itemId: string, inputBytes = 1000, outputBytes = 400, outputPrefix = "outputs/x/") {
  return create(ItemResultSchema, {
    itemId,
    state: ItemState.DONE,
    outputKey: `${outputPrefix}${itemId}.webp`,
    format: ImageFormat.WEBP,
    inputBytes: BigInt(inputBytes),
    outputBytes: BigInt(outputBytes),
    width: 10,
    height: 10,
    quality: 80,
  });
}

/** Runs a whole chunk the way a worker does: claim, report each pending item, complete. */
export async function runChunk(t: TestCoordinator, workerId: string, chunk: Chunk): Promise<string[]> {
  const claim = await t.cluster.claimChunk({ workerId, jobId: chunk.jobId, index: chunk.index, delivery: 1 });
  for (const itemId of claim.pendingItemIds) {
    const result = doneResult(itemId);
    result.outputKey = `${chunk.outputPrefix}${itemId}.webp`;
    await t.cluster.reportItem({ workerId, jobId: chunk.jobId, chunkIndex: chunk.index, result });
  }
  await t.cluster.completeChunk({ workerId, jobId: chunk.jobId, index: chunk.index });
  return claim.pendingItemIds;
}

/** Runs a whole chunk, the items named failing CORRUPT_INPUT and the rest DONE. */
export async function runChunkFailing(
  t: TestCoordinator,
  workerId: string,
  chunk: Chunk,
  failing: readonly string[],
): Promise<void> {
  const claim = await t.cluster.claimChunk({ workerId, jobId: chunk.jobId, index: chunk.index, delivery: 1 });
  for (const itemId of claim.pendingItemIds) {
    const result = failing.includes(itemId)
      ? create(ItemResultSchema, {
          itemId,
          state: ItemState.FAILED,
          errorCode: ErrorCode.CORRUPT_INPUT,
          errorMessage: "corrupt",
        })
      : doneResult(itemId, 1000, 400, chunk.outputPrefix);
    result.sourceKey = chunk.items.find((item) => item.itemId === itemId)?.key ?? "";
    result.workerId = workerId;
    await t.cluster.reportItem({ workerId, jobId: chunk.jobId, chunkIndex: chunk.index, result });
  }
  await t.cluster.completeChunk({ workerId, jobId: chunk.jobId, index: chunk.index });
}

/**
 * Writes a heartbeat into KV imgc-workers, as a live worker does every couple of seconds; `capabilities` empty is
 * a worker from before task kinds (it compresses).
 */
export async function heartbeat(
  nc: NatsConnection,
  id: string,
  chunks: string[] = [],
  pid = 1,
  capabilities: TaskKind[] = [],
): Promise<void> {
  const kv = await nc.jetstream().views.kv(WORKERS_BUCKET);
  await kv.put(
    id,
    encodeMessage(
      WorkerStatusSchema,
      create(WorkerStatusSchema, {
        id,
        host: "test",
        pid,
        slots: 2,
        busy: chunks.length,
        chunks,
        capabilities,
        heartbeatAt: timestampNow(),
      }),
    ),
  );
}

export async function removeWorker(nc: NatsConnection, id: string): Promise<void> {
  const kv = await nc.jetstream().views.kv(WORKERS_BUCKET);
  await kv.delete(id);
}

/** The job once it has ended (its end is written in the background after the last result). */
export async function endedJob(t: TestCoordinator, jobId: string) {
  return eventually(async () => {
    const { job } = await t.jobs.getJob({ jobId });
    return job?.finishedAt ? job : null;
  });
}

/** Polls `check` until it returns something truthy, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(50);
  }
}
