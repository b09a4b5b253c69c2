/**
 * NATS JetStream: connection and the cluster's topology (streams, consumers, KV buckets).
 *
 * Coordinators call `ensureTopology` at start. It is idempotent: it creates what is missing and updates what
 * drifted. Workers, whose NATS user may not shape the topology, wait for it and bind it (`openWorkerTopology`),
 * so coordinators and workers can still start in any order.
 */
import { type DescMessage, fromJsonString, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import { Priority, TaskKind } from "@imgc/proto";
import {
  AckPolicy,
  type ConsumerConfig,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "nats";
import type { Logger } from "./logger.js";
import type { NatsAuthOptions } from "./nats-connect.js";
import { sleep } from "./retry.js";

export const TASKS_STREAM = "IMGC_TASKS";
export const EVENTS_STREAM = "IMGC_EVENTS";
export const WORKERS_BUCKET = "imgc-workers";
export const JOBS_BUCKET = "imgc-jobs";
export const CHUNKS_BUCKET = "imgc-chunks";
export const RESULTS_BUCKET = "imgc-results";

/** The scheduling lanes, in the order workers pull them. */
export const LANES = [
  { priority: Priority.HIGH, name: "high" },
  { priority: Priority.NORMAL, name: "normal" },
  { priority: Priority.LOW, name: "low" },
] as const;

export type LaneName = (typeof LANES)[number]["name"];

export function laneOf(priority: Priority): LaneName {
  return LANES.find((lane) => lane.priority === priority)?.name ?? "normal";
}

/**
 * The kinds of work, each with its own subjects and consumers on the task stream, so that a chunk is pulled only
 * by a worker that can do it. COMPRESS keeps the names it had before there were kinds (imgc.tasks.<lane>,
 * tasks-<lane>), so a stream and consumers made by an older coordinator go on working.
 */
export const TASK_KINDS = [
  { kind: TaskKind.COMPRESS, name: "compress", subject: "imgc.tasks", consumer: "tasks" },
  { kind: TaskKind.DETECT, name: "detect", subject: "imgc.tasks.detect", consumer: "detect" },
] as const;

export type TaskKindName = (typeof TASK_KINDS)[number]["name"];

/** UNSPECIFIED (a chunk or worker from before kinds) is COMPRESS. */
export function taskKindOf(kind: TaskKind) {
  return TASK_KINDS.find((k) => k.kind === kind) ?? TASK_KINDS[0];
}

/** The kinds a worker pulls, from its heartbeat: none listed (a worker from before kinds) is [COMPRESS]. */
export function capabilitiesOf(worker: { capabilities: readonly TaskKind[] }): readonly TaskKind[] {
  return worker.capabilities.length > 0 ? worker.capabilities : [TaskKind.COMPRESS];
}

export const taskSubject = (lane: LaneName, kind: TaskKind = TaskKind.COMPRESS) =>
  `${taskKindOf(kind).subject}.${lane}`;
export const taskConsumer = (lane: LaneName, kind: TaskKind = TaskKind.COMPRESS) =>
  `${taskKindOf(kind).consumer}-${lane}`;
export const eventSubject = (jobId: string) => `imgc.events.${jobId}`;
/** Control messages for one worker (drain). */
export const controlSubject = (workerId: string) => `imgc.control.${workerId}`;
/**
 * Control messages for every worker: `{"action":"cancel","jobId":…}` when a job is cancelled. Two tokens after
 * `imgc.control`, so that it can never be a worker's own subject (a worker id is one token, no dots); workers
 * may receive `imgc.control.>` and only coordinators may publish there.
 */
export const BROADCAST_SUBJECT = "imgc.control.all.workers";

export interface TopologyOptions {
  /** How long a delivered chunk may go without an ack or an in-progress ack before it is redelivered. */
  ackWaitMs: number;
  /** How many times a chunk is delivered before it is given up on (its items then fail). */
  maxDeliver: number;
  /** How long a worker's heartbeat lives in KV without being renewed. */
  workerTtlMs: number;
  /** How long job events are kept for WatchJob replays. */
  eventsMaxAgeMs: number;
}

export const defaultTopology: TopologyOptions = {
  ackWaitMs: 30_000,
  maxDeliver: 5,
  workerTtlMs: 10_000,
  eventsMaxAgeMs: 7 * 24 * 3600_000,
};

/** `auth`: the process's credentials and TLS, from `natsAuthOptions` (nats-connect.ts). */
export async function connectNats(
  servers: string,
  name: string,
  log: Logger,
  auth: NatsAuthOptions = {},
): Promise<NatsConnection> {
  const nc = await connect({
    ...auth,
    servers: servers.split(",").map((s) => s.trim()),
    name,
    // Never give up: a restarted nats-server must be rejoined without operator help.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 5_000,
    // Every request otherwise captures a stack trace for its errors: a tenth of a millisecond of CPU each, on the
    // coordinator's per-item path (two JetStream publishes per item). Our errors are logged where they are caught.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "pingTimer") continue;
      log.info({ nats: status.type, data: String(status.data) }, "nats status");
    }
  })();
  return nc;
}

export interface Topology {
  jsm: JetStreamManager;
  workers: KV;
  jobs: KV;
  chunks: KV;
  results: KV;
}

export async function ensureTopology(
  nc: NatsConnection,
  options: TopologyOptions = defaultTopology,
): Promise<Topology> {
  const jsm = await nc.jetstreamManager();
  await ensureStream(jsm, {
    name: TASKS_STREAM,
    subjects: ["imgc.tasks.>"],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    // Chunks are published with Nats-Msg-Id = <job>.<chunk>: a retried publish within this window is dropped.
    duplicate_window: nanos(10 * 60_000),
    discard: DiscardPolicy.Old,
  });
  await ensureStream(jsm, {
    name: EVENTS_STREAM,
    subjects: ["imgc.events.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(options.eventsMaxAgeMs),
    duplicate_window: nanos(2 * 60_000),
  });
  for (const { kind } of TASK_KINDS) {
    for (const lane of LANES) {
      await ensureConsumer(jsm, TASKS_STREAM, {
        durable_name: taskConsumer(lane.name, kind),
        filter_subject: taskSubject(lane.name, kind),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(options.ackWaitMs),
        max_deliver: options.maxDeliver,
        max_ack_pending: 10_000,
      });
    }
  }
  const js = nc.jetstream();
  const [workers, jobs, chunks, results] = await Promise.all([
    js.views.kv(WORKERS_BUCKET, { history: 1, ttl: options.workerTtlMs, storage: StorageType.File }),
    js.views.kv(JOBS_BUCKET, { history: 1, storage: StorageType.File }),
    js.views.kv(CHUNKS_BUCKET, { history: 1, storage: StorageType.File }),
    js.views.kv(RESULTS_BUCKET, { history: 1, storage: StorageType.File }),
  ]);
  return { jsm, workers, jobs, chunks, results };
}

/**
 * A worker's view of the topology: it may not create or change streams (its NATS user has no such right), so
 * it waits until a coordinator has made them, then binds the heartbeat bucket.
 */
export async function openWorkerTopology(nc: NatsConnection, log: Logger, retryMs = 500): Promise<{ workers: KV }> {
  const jsm = await nc.jetstreamManager();
  let waiting = false;
  for (;;) {
    try {
      await jsm.streams.info(TASKS_STREAM);
      await jsm.streams.info(`KV_${WORKERS_BUCKET}`);
      break;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!waiting) log.info("waiting for a coordinator to create the NATS topology");
      waiting = true;
      await sleep(retryMs);
    }
  }
  return { workers: await nc.jetstream().views.kv(WORKERS_BUCKET) };
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // Another process created it between our info and add.
      if (!/already in use|exists/i.test(String(addErr))) throw addErr;
    }
  }
}

type DurableConfig = Partial<ConsumerConfig> & {
  durable_name: string;
  ack_wait: number;
  max_deliver: number;
  max_ack_pending: number;
};

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: DurableConfig) {
  try {
    await jsm.consumers.info(stream, config.durable_name);
    await jsm.consumers.update(stream, config.durable_name, {
      ack_wait: config.ack_wait,
      max_deliver: config.max_deliver,
      max_ack_pending: config.max_ack_pending,
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, config);
  }
}

function isNotFound(err: unknown): boolean {
  return /not found/i.test(String(err));
}

/** KV values and NATS payloads are protobuf JSON: compact enough, and readable with `nats kv get`. */
export function encodeMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return new TextEncoder().encode(toJsonString(schema, message));
}

export function decodeMessage<Desc extends DescMessage>(schema: Desc, data: Uint8Array): MessageShape<Desc> {
  return fromJsonString(schema, new TextDecoder().decode(data), { ignoreUnknownFields: true });
}
