/**
 * The membership table: the live workers, from their heartbeats in KV `imgc-workers`. A worker is gone when
 * its key is deleted (a graceful exit) or when it has not written a heartbeat for `timeoutMs` (a crash; the
 * bucket's TTL removes the key later, without telling watchers). Ages are measured on this process's clock
 * from when each heartbeat arrived, so clock skew between hosts cannot make a live worker look dead.
 *
 * Silence from every worker at once says more about the watch than about the workers: after a nats-server
 * restart, the KV watch (an ephemeral ordered consumer, gone with the server) takes ten seconds or more to
 * notice and recreate itself, and a coordinator that trusted it would declare the whole cluster dead and
 * republish every chunk in flight. So when no heartbeat at all has arrived for half the timeout, the watch is
 * recreated first. If it was broken (the new one shows heartbeats the old one missed, or NATS could not be
 * reached to recreate it), ages start again from when it is back: heartbeats it could not deliver are not the
 * workers' fault. If it was not, the workers really are silent and are judged as usual. A replayed heartbeat
 * (same revision as the one already seen) is never a sign of life.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { decodeMessage, type Logger, retry } from "@imgc/common";
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
  /** The KV revision of the heartbeat last seen. */
  revision: number;
}

export function createMembership(deps: MembershipDeps) {
  const { kv, timeoutMs, log } = deps;
  const now = deps.now ?? Date.now;
  const members = new Map<string, Member>();
  let watch: QueuedIterator<KvEntry> | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let loop: Promise<void> | undefined;
  /** When the watch last delivered anything. */
  let heardAt = now();
  /** A watch being recreated: nobody is judged meanwhile. */
  let rewatching: Promise<void> | undefined;
  let stopped = false;
  const staleMs = timeoutMs / 2;
  /** Heartbeats seen with a new revision, ever: tells whether a recreated watch found what the old one missed. */
  let sightings = 0;

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
    heardAt = now();
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
    const member = members.get(status.id);
    // The same heartbeat again (a recreated watch replays the last value of every key): not a sign of life.
    if (member && member.revision === entry.revision) return;
    const previous = member?.status;
    if (!previous) log.info({ workerId: status.id, host: status.host, slots: status.slots }, "worker joined");
    else if (restarted(previous, status)) {
      const restartedAt = status.startedAt ? timestampMs(status.startedAt) : now();
      log.info({ workerId: status.id, pid: status.pid }, "worker restarted under the same id");
      notify(previous, "restarted", restartedAt);
    }
    sightings++;
    members.set(status.id, { status, seenAt: now(), revision: entry.revision });
  }

  /** Follows the bucket from its current values on; resolves once they are loaded. */
  async function follow(): Promise<void> {
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => {
      initialized = resolve;
    });
    const iterator = await kv.watch({ initializedFn: () => initialized() });
    watch = iterator;
    loop = (async () => {
      for await (const entry of iterator) apply(entry);
    })().catch((err: unknown) => log.error({ err }, "worker watch ended"));
    await ready;
  }

  async function rewatch(): Promise<void> {
    log.warn({ silentMs: now() - heardAt }, "no heartbeat from any worker for a while; recreating the worker watch");
    watch?.stop();
    await loop;
    const before = sightings;
    let attempts = 0;
    const retryable = (err: unknown, attempt: number) => {
      if (stopped) return false;
      log.warn({ err, attempt }, "could not recreate the worker watch; retrying");
      return true;
    };
    const attempt = async () => {
      attempts++;
      if (!stopped) await follow();
    };
    // Given up only once stopped.
    await retry(attempt, { retryable, firstDelayMs: 250 }).catch(() => {});
    heardAt = now();
    const broken = attempts > 1 || sightings > before;
    log.info({ broken }, "worker watch recreated");
    // Ages start again now: what a broken watch did not deliver is not the workers' fault.
    if (broken) for (const member of members.values()) member.seenAt = Math.max(member.seenAt, heardAt);
  }

  const membership = {
    /** Loads the current heartbeats, then follows changes; resolves once the table is loaded. */
    async start(sweepEveryMs = Math.max(100, Math.min(1_000, timeoutMs / 4))): Promise<void> {
      await follow();
      heardAt = now();
      sweeper = setInterval(() => membership.sweep(), sweepEveryMs);
      sweeper.unref();
    },

    /**
     * Declares gone every worker whose last heartbeat is older than the timeout; or, when no worker at all has
     * been heard from for half of it, recreates the watch first.
     */
    sweep(): void {
      if (rewatching || stopped) return;
      if (members.size > 0 && now() - heardAt > staleMs) {
        rewatching = rewatch().finally(() => {
          rewatching = undefined;
        });
        return;
      }
      const limit = now() - timeoutMs;
      for (const [id, member] of members) if (member.seenAt < limit) gone(id, "timeout");
    },

    async stop(): Promise<void> {
      stopped = true;
      if (sweeper) clearInterval(sweeper);
      await rewatching;
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
