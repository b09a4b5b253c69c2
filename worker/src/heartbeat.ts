/**
 * The worker's heartbeat: its WorkerStatus, put into the `imgc-workers` KV bucket every IMGC_HEARTBEAT_MS. The
 * bucket's short max age makes a dead worker's key vanish; a graceful exit deletes it at once, which tells the
 * coordinator the worker left on purpose.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { encodeMessage, type Logger } from "@imgc/common";
import { type TaskKind, type WorkerStatus, WorkerStatusSchema } from "@imgc/proto";
import type { Throughput } from "./throughput.js";

/** The slice of a NATS KV bucket the heartbeat uses. */
export interface HeartbeatStore {
  put(key: string, value: Uint8Array): Promise<number>;
  delete(key: string): Promise<void>;
}

export interface WorkerIdentity {
  id: string;
  host: string;
  pid: number;
  version: string;
  slots: number;
  startedAt: Date;
  /** The kinds of work it pulls (IMGC_WORKER_TASKS); the coordinator shows them and routes nothing by them. */
  capabilities: TaskKind[];
}

export interface WorkerState {
  busy: number;
  /** The chunks held now, as "<job>.<index>". */
  chunks: string[];
  draining: boolean;
}

export interface HeartbeatDeps {
  kv: HeartbeatStore;
  identity: WorkerIdentity;
  state(): WorkerState;
  throughput: Throughput;
  intervalMs: number;
  log: Logger;
  now?: () => Date;
}

export interface Heartbeat {
  start(): Promise<void>;
  /** Puts the status now (for example when draining starts), besides the periodic beats. */
  beat(): Promise<void>;
  status(): WorkerStatus;
  /** Stops beating; with `deregister`, deletes the key so the coordinator sees a graceful exit. */
  stop(options: { deregister: boolean }): Promise<void>;
}

export function createHeartbeat(deps: HeartbeatDeps): Heartbeat {
  const now = deps.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();

  function status(): WorkerStatus {
    const state = deps.state();
    const { identity } = deps;
    return create(WorkerStatusSchema, {
      id: identity.id,
      host: identity.host,
      pid: identity.pid,
      version: identity.version,
      slots: identity.slots,
      capabilities: identity.capabilities,
      busy: state.busy,
      chunks: state.chunks,
      itemsDone: BigInt(deps.throughput.total),
      itemsPerSecond: Math.round(deps.throughput.perSecond() * 1000) / 1000,
      draining: state.draining,
      startedAt: timestampFromDate(identity.startedAt),
      heartbeatAt: timestampFromDate(now()),
    });
  }

  function beat(): Promise<void> {
    if (stopped) return inFlight;
    // One put at a time, in order: a slow put must not let an older status overwrite a newer one.
    inFlight = inFlight.then(async () => {
      if (stopped) return;
      try {
        await deps.kv.put(deps.identity.id, encodeMessage(WorkerStatusSchema, status()));
      } catch (err) {
        deps.log.warn({ err }, "heartbeat put failed");
      }
    });
    return inFlight;
  }

  return {
    async start() {
      await beat();
      timer = setInterval(() => void beat(), deps.intervalMs);
      timer.unref();
    },
    beat,
    status,
    async stop({ deregister }) {
      clearInterval(timer);
      stopped = true;
      await inFlight;
      if (!deregister) return;
      try {
        await deps.kv.delete(deps.identity.id);
      } catch (err) {
        deps.log.warn({ err }, "deleting the heartbeat key failed; it expires with the bucket's max age");
      }
    },
  };
}
