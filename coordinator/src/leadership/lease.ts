/**
 * Leadership among coordinators: one key, `leader`, in KV `imgc-leader`, whose bucket TTL is the lease.
 *
 * A coordinator becomes leader by `create` (it fails while the key exists), and stays leader by `update` at
 * the revision it last wrote, every third of the lease. The revision of its `create` is its **term**: terms only
 * grow (they are stream sequences), so a record stamped with a term tells every later writer who came last.
 * A leader that cannot renew, or whose renewal finds the key moved, steps down; one that a pause kept from
 * renewing (GC, SIGSTOP, a partitioned VM) finds on waking that its monotonic clock has passed the lease, and
 * treats itself as deposed before it writes anything. Followers poll with `create` a few times per lease (the
 * server expires the key silently) and watch the key, so a leader that steps down gracefully (it deletes the
 * key) is replaced at once.
 *
 * `valid()` is the fence every leader-only write checks first; `term` is stamped into job records, whose
 * compare-and-set refuses a write from an older term (see jobs/fence.ts).
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "@imgc/common";
import { type KV, type NatsConnection, StorageType } from "nats";
import { isRevisionConflict } from "../jobs/kv.js";

export const LEADER_BUCKET = "imgc-leader";
const LEADER_KEY = "leader";

export interface LeaderInfo {
  id: string;
  /** host:port where the leader's gRPC answers (what followers send clients to). */
  address: string;
  term: number;
  /** Chunks the leader holds back per lane, waiting their tenant's turn (as of its last renewal). */
  waiting?: Record<string, number>;
}

export interface LeaseOptions {
  nc: NatsConnection;
  /** This coordinator's id (unique per process). */
  id: string;
  /** Where clients reach this coordinator (host:port); read at each write, as the port may be bound later. */
  address: () => string;
  leaseMs: number;
  log: Logger;
  /**
   * Became leader: start the leader's work; resolves once it runs, rejects to give the lease up. The lease is
   * renewed while it runs.
   */
  onElected(term: number): Promise<void>;
  /** Lost (or gave up) the lease: stop the leader's work at once, even while onElected still runs. */
  onDeposed(term: number): Promise<void>;
  /** What the leader publishes with each renewal, for every coordinator to read (its held-back backlog). */
  waiting?(): Record<string, number>;
}

export interface Lease {
  /** Opens the bucket and campaigns once (becoming leader if the key is free), then keeps campaigning or renewing. */
  start(): Promise<void>;
  /** True while this process holds an unexpired lease: check it before every leader-only write. */
  valid(): boolean;
  /** The term held now, 0 when not leader. */
  readonly term: number;
  /** The leader as last seen in KV (this process included), or undefined when none is known. */
  leader(): LeaderInfo | undefined;
  /** Stops campaigning; a leader deletes its key so that a follower takes over at once. */
  close(): Promise<void>;
}

export async function openLeaderBucket(nc: NatsConnection, leaseMs: number): Promise<KV> {
  // max_age is the lease: an entry not renewed within it disappears, and a follower's `create` succeeds.
  return nc.jetstream().views.kv(LEADER_BUCKET, { history: 1, ttl: leaseMs, storage: StorageType.File });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parse(value: Uint8Array, revision: number): LeaderInfo | undefined {
  try {
    const info = JSON.parse(decoder.decode(value)) as Partial<LeaderInfo>;
    if (typeof info.id !== "string" || typeof info.address !== "string") return undefined;
    return {
      id: info.id,
      address: info.address,
      term: typeof info.term === "number" ? info.term : revision,
      ...(info.waiting && typeof info.waiting === "object" ? { waiting: info.waiting } : {}),
    };
  } catch {
    return undefined;
  }
}

export function createLease(options: LeaseOptions): Lease {
  const { nc, id, leaseMs, log } = options;
  let kv!: KV;
  let watch: Awaited<ReturnType<KV["watch"]>> | undefined;
  const renewEveryMs = Math.max(50, Math.floor(leaseMs / 3));
  // Followers try five times a lease: the server expires a dead leader's key without telling anyone.
  const pollEveryMs = Math.max(50, Math.floor(leaseMs / 5));
  const nextTickMs = () => (term > 0 ? renewEveryMs : pollEveryMs);
  // A lease is trusted for less than its length: the server's clock started it after our request left.
  const trustMs = leaseMs - Math.max(100, Math.floor(leaseMs / 10));

  let term = 0;
  let revision = 0;
  /** performance.now() when the last successful write (create or renewal) was sent. */
  let renewedAt = 0;
  let known: LeaderInfo | undefined;
  let closed = false;
  let transition: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  /** The last election's onElected: `start()` waits for the one an election at start began. */
  let takingOver: Promise<void> | undefined;

  const valid = () => term > 0 && performance.now() - renewedAt < trustMs;

  function step(fn: () => Promise<void>): Promise<void> {
    transition = transition.then(fn, fn);
    return transition;
  }

  async function depose(reason: string): Promise<void> {
    if (term === 0) return;
    const old = term;
    term = 0;
    revision = 0;
    log.warn({ term: old, reason }, "leadership lost");
    await options.onDeposed(old).catch((err: unknown) => log.error({ err }, "stepping down failed"));
  }

  async function campaign(): Promise<void> {
    const sentAt = performance.now();
    try {
      const address = options.address();
      const value = encoder.encode(JSON.stringify({ id, address }));
      const created = await kv.create(LEADER_KEY, value);
      term = created;
      revision = created;
      renewedAt = sentAt;
      known = { id, address, term };
      log.info({ term }, "elected leader");
    } catch (err) {
      if (!isRevisionConflict(err)) log.warn({ err: String(err) }, "campaign failed");
      const entry = await kv.get(LEADER_KEY).catch(() => null);
      known = entry?.operation === "PUT" ? parse(entry.value, entry.revision) : undefined;
      return;
    }
    // Not awaited here: taking over (every open job resumed) can outlast the lease, and the renewals that keep
    // it are steps too. A lease lost meanwhile deposes as usual; onDeposed may then come before onElected ends.
    takingOver = lead(term);
  }

  async function lead(held: number): Promise<void> {
    try {
      await options.onElected(held);
    } catch (err) {
      log.error({ err }, "could not start leading; giving the lease up");
      await step(async () => {
        // Deposed (and perhaps elected again) meanwhile: that term is not this one's to give up.
        if (term !== held) return;
        const at = revision;
        term = 0;
        revision = 0;
        await kv.delete(LEADER_KEY, { previousSeq: at }).catch(() => undefined);
      });
    }
  }

  async function renew(): Promise<void> {
    if (!valid()) return depose("the lease ran out before it was renewed");
    const sentAt = performance.now();
    try {
      const value = { id, address: options.address(), term, waiting: options.waiting?.() };
      revision = await kv.update(LEADER_KEY, encoder.encode(JSON.stringify(value)), revision);
      renewedAt = sentAt;
    } catch (err) {
      if (isRevisionConflict(err)) return depose("another coordinator holds the lease");
      // NATS unreachable: keep trying until the lease runs out, then step down (valid() above).
      log.warn({ err: String(err) }, "lease renewal failed");
    }
  }

  function tick(): void {
    if (closed) return;
    void step(() => (term > 0 ? renew() : campaign())).finally(() => {
      // One timer at a time, whoever called tick (the timer, or the watch seeing the key deleted).
      clearTimeout(timer);
      if (!closed) timer = setTimeout(tick, nextTickMs());
    });
  }

  return {
    async start() {
      kv = await openLeaderBucket(nc, leaseMs);
      // A leader that steps down deletes its key: followers learn at once instead of waiting for the TTL.
      const watching = await kv.watch({ key: LEADER_KEY });
      watch = watching;
      void (async () => {
        for await (const entry of watching) {
          if (entry.operation === "PUT") {
            known = parse(entry.value, entry.revision);
            if (term > 0 && known?.id !== id) void step(() => depose("another coordinator holds the lease"));
          } else if (term === 0 && !closed) {
            known = undefined;
            clearTimeout(timer);
            tick();
          }
        }
      })();
      timer = setTimeout(tick, nextTickMs());
      await step(campaign);
      // A coordinator elected as it starts is ready once it leads.
      await takingOver;
    },
    valid,
    get term() {
      return valid() ? term : 0;
    },
    leader: () => known,
    async close() {
      closed = true;
      clearTimeout(timer);
      watch?.stop();
      await step(async () => {
        if (term === 0) return;
        const held = revision;
        await depose("shutting down");
        await kv.delete(LEADER_KEY, { previousSeq: held }).catch(() => undefined);
      });
    },
  };
}
