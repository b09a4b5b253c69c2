/**
 * The worker: pulls chunks while it has free slots, runs them, heartbeats, and drains on request.
 *
 * Draining (SIGTERM, or `{"action":"drain"}` on imgc.control.<id>): stop pulling, let held chunks finish, and
 * past the drain timeout release what is left (CompleteChunk{released} and nak, so another worker takes it at
 * once); then delete the heartbeat key. `done` settles when that is over; main decides to exit then.
 *
 * Cancelling: `{"action":"cancel","jobId":…}` on imgc.control.all.workers (a coordinator's broadcast when a job is
 * cancelled) stops every chunk of that job the worker holds, mid-item, and frees their slots.
 */
import { BROADCAST_SUBJECT, controlSubject, type Logger } from "@imgc/common";
import type { WorkerStatus } from "@imgc/proto";
import type { JsMsg, Msg, NatsConnection, Subscription } from "nats";
import { type RunningChunk, runChunk } from "./chunk-runner.js";
import type { CoordinatorClient } from "./coordinator-client.js";
import { createHeartbeat, type HeartbeatStore, type WorkerIdentity } from "./heartbeat.js";
import type { ProcessItem } from "./process-item.js";
import { createPullLoop, type PullLoop } from "./queue/pull-loop.js";
import { createSlots } from "./queue/slots.js";
import { createThroughput } from "./throughput.js";

export interface WorkerDeps {
  nc: NatsConnection;
  /** The imgc-workers KV bucket. */
  workers: HeartbeatStore;
  coordinator: CoordinatorClient;
  processItem: ProcessItem;
  identity: WorkerIdentity;
  heartbeatMs: number;
  ackWaitMs: number;
  drainTimeoutMs: number;
  /** How long a chunk waits before redelivery when the coordinator could not be reached. */
  retryDelayMs?: number;
  log: Logger;
}

export interface Worker {
  readonly id: string;
  start(): Promise<void>;
  /** Stops pulling, finishes (or past the drain timeout releases) held chunks, deregisters. Idempotent. */
  drain(): Promise<void>;
  /** As drain, but releases held chunks at once. */
  stop(): Promise<void>;
  /** Settles once the worker has drained or stopped, whoever asked. */
  readonly done: Promise<void>;
  status(): WorkerStatus;
}

export function createWorker(deps: WorkerDeps): Worker {
  const { identity, log } = deps;
  const slots = createSlots(identity.slots);
  const throughput = createThroughput();
  const running = new Set<RunningChunk>();
  let draining = false;
  let releasing = false;
  let drained: Promise<void> | undefined;
  let control: Subscription | undefined;
  let broadcast: Subscription | undefined;
  let resolveDone = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  const heartbeat = createHeartbeat({
    kv: deps.workers,
    identity,
    throughput,
    intervalMs: deps.heartbeatMs,
    log,
    state: () => ({ busy: running.size, chunks: [...running].map((chunk) => chunk.id), draining }),
  });

  function dispatch(msg: JsMsg): void {
    const chunk = runChunk(msg, {
      coordinator: deps.coordinator,
      processItem: deps.processItem,
      ackWaitMs: deps.ackWaitMs,
      log,
      onItem: () => throughput.record(),
      ...(deps.retryDelayMs === undefined ? {} : { retryDelayMs: deps.retryDelayMs }),
    });
    running.add(chunk);
    if (releasing) chunk.release();
    void chunk.done
      .catch((err: unknown) => log.error({ err, chunk: chunk.id }, "chunk crashed"))
      .finally(() => {
        running.delete(chunk);
        slots.release();
      });
  }

  /** A control message's JSON, or undefined (logged) when it cannot be read. */
  function readControl(err: Error | null, msg: Msg): { action?: unknown; jobId?: unknown } | undefined {
    if (err) {
      log.warn({ err }, "control subscription failed");
      return undefined;
    }
    try {
      const message: unknown = JSON.parse(msg.string());
      if (typeof message === "object" && message !== null) return message;
    } catch {
      // Reported below, as any other unreadable message.
    }
    log.warn({ data: msg.string().slice(0, 200) }, "unreadable control message");
    return undefined;
  }

  const pull: PullLoop = createPullLoop({
    js: deps.nc.jetstream(),
    slots,
    dispatch,
    log,
    kinds: identity.capabilities,
  });

  function releaseAll(): void {
    releasing = true;
    for (const chunk of running) chunk.release();
  }

  async function settle(): Promise<void> {
    draining = true;
    log.info({ held: running.size, drainTimeoutMs: deps.drainTimeoutMs }, "draining");
    await Promise.all([heartbeat.beat(), pull.stop()]);
    const overdue = setTimeout(() => {
      if (running.size === 0) return;
      log.warn({ held: [...running].map((chunk) => chunk.id) }, "drain timeout; releasing held chunks");
      releaseAll();
    }, deps.drainTimeoutMs);
    while (running.size > 0) await Promise.allSettled([...running].map((chunk) => chunk.done));
    clearTimeout(overdue);
    control?.unsubscribe();
    broadcast?.unsubscribe();
    await heartbeat.stop({ deregister: true });
    log.info({ itemsDone: throughput.total }, "drained");
    resolveDone();
  }

  function drain(): Promise<void> {
    drained ??= settle();
    return drained;
  }

  return {
    id: identity.id,
    done,
    status: () => heartbeat.status(),
    async start() {
      control = deps.nc.subscribe(controlSubject(identity.id), {
        callback: (err, msg) => {
          const message = readControl(err, msg);
          if (!message) return;
          if (message.action !== "drain") return log.warn({ action: message.action }, "unknown control action");
          log.info("drain requested over NATS");
          if (msg.reply) msg.respond(new TextEncoder().encode(JSON.stringify({ draining: true })));
          void drain();
        },
      });
      broadcast = deps.nc.subscribe(BROADCAST_SUBJECT, {
        callback: (err, msg) => {
          const message = readControl(err, msg);
          if (!message) return;
          if (message.action !== "cancel" || typeof message.jobId !== "string") {
            return log.warn({ action: message.action }, "unknown broadcast action");
          }
          const held = [...running].filter((chunk) => chunk.jobId === message.jobId);
          if (held.length > 0)
            log.info({ jobId: message.jobId, chunks: held.length }, "job cancelled; stopping its chunks");
          for (const chunk of held) chunk.cancel();
        },
      });
      await heartbeat.start();
      pull.start();
    },
    drain,
    async stop() {
      const finished = drain();
      releaseAll();
      await finished;
    },
  };
}
