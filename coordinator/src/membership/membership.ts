/**
 * The membership table: the live workers, from their heartbeats in KV `imgc-workers`. A worker is gone when
 * its key is deleted (a graceful exit) or when it has not written a heartbeat for `timeoutMs` (a crash; the
 * bucket's TTL removes the key later, without telling watchers). Ages are measured on this process's clock
 * from when each heartbeat arrived, so clock skew between hosts cannot make a live worker look dead.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { decodeMessage, type Logger } from "@imgc/common";
import { type WorkerStatus, WorkerStatusSchema } from "@imgc/proto";
import type { KV, KvEntry, QueuedIterator } from "nats";

function restarted(previous: WorkerStatus, next: WorkerStatus): boolean {
  if (previous.pid !== next.pid || previous.host !== next.host) return true;
  const [a, b] = [previous.startedAt, next.startedAt];
  return !!a && !!b && timestampMs(a) !== timestampMs(b);
}

export interface MembershipDeps {
  kv: KV;
  timeoutMs: number;
  log: Logger;
  /**
   * Called once per departure, with the worker's last heartbeat. For a worker that restarted under the same
   * id (a new pid or start time), `restartedAt` is when the new process started (ms).
   */
  onGone: (
    status: WorkerStatus,
    reason: "deleted" | "timeout" | "restarted",
    restartedAt?: number,
  ) => Promise<void> | void;
  now?: () => number;
}

interface Member {
  status: WorkerStatus;
  seenAt: number;
}

export function createMembership(deps: MembershipDeps) {
  const { kv, timeoutMs, log } = deps;
  const now = deps.now ?? Date.now;
  const members = new Map<string, Member>();
  let watch: QueuedIterator<KvEntry> | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let loop: Promise<void> | undefined;

  function notify(status: WorkerStatus, reason: "deleted" | "timeout" | "restarted", restartedAt?: number): void {
    Promise.resolve()
      .then(() => deps.onGone(status, reason, restartedAt))
      .catch((err: unknown) => log.error({ err, workerId: status.id }, "handling a departed worker failed"));
  }

  function gone(id: string, reason: "deleted" | "timeout"): void {
    const member = members.get(id);
    if (!member) return;
    members.delete(id);
    log.info({ workerId: id, reason, chunks: member.status.chunks }, "worker gone");
    notify(member.status, reason);
  }

  function apply(entry: KvEntry): void {
    if (entry.operation !== "PUT") {
      gone(entry.key, "deleted");
      return;
    }
    let status: WorkerStatus;
    try {
      status = decodeMessage(WorkerStatusSchema, entry.value);
    } catch (err) {
      log.warn({ err, key: entry.key }, "ignoring an unreadable heartbeat");
      return;
    }
    if (!status.id) status.id = entry.key;
    const previous = members.get(status.id)?.status;
    if (!previous) log.info({ workerId: status.id, host: status.host, slots: status.slots }, "worker joined");
    else if (restarted(previous, status)) {
      const restartedAt = status.startedAt ? timestampMs(status.startedAt) : now();
      log.info({ workerId: status.id, pid: status.pid }, "worker restarted under the same id");
      notify(previous, "restarted", restartedAt);
    }
    members.set(status.id, { status, seenAt: now() });
  }

  const membership = {
    /** Loads the current heartbeats, then follows changes; resolves once the table is loaded. */
    async start(sweepEveryMs = Math.max(100, Math.min(1_000, timeoutMs / 4))): Promise<void> {
      let initialized!: () => void;
      const ready = new Promise<void>((resolve) => {
        initialized = resolve;
      });
      watch = await kv.watch({ initializedFn: () => initialized() });
      const iterator = watch;
      loop = (async () => {
        for await (const entry of iterator) apply(entry);
      })().catch((err: unknown) => log.error({ err }, "worker watch ended"));
      await ready;
      sweeper = setInterval(() => membership.sweep(), sweepEveryMs);
      sweeper.unref();
    },

    /** Declares gone every worker whose last heartbeat is older than the timeout. */
    sweep(): void {
      const limit = now() - timeoutMs;
      for (const [id, member] of members) if (member.seenAt < limit) gone(id, "timeout");
    },

    async stop(): Promise<void> {
      if (sweeper) clearInterval(sweeper);
      watch?.stop();
      await loop;
    },

    list(): WorkerStatus[] {
      return [...members.values()].map((member) => member.status).sort((a, b) => (a.id < b.id ? -1 : 1));
    },

    get(id: string): WorkerStatus | undefined {
      return members.get(id)?.status;
    },

    isLive(id: string): boolean {
      return members.has(id);
    },

    /** True when a live worker's latest heartbeat says it runs the chunk "<job>.<index>". */
    runs(chunk: string): boolean {
      for (const member of members.values()) if (member.status.chunks.includes(chunk)) return true;
      return false;
    },

    get size(): number {
      return members.size;
    },
  };
  return membership;
}

export type Membership = ReturnType<typeof createMembership>;
