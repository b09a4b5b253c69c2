import { create } from "@bufbuild/protobuf";
import { createLogger, encodeMessage } from "@imgc/common";
import { type WorkerStatus, WorkerStatusSchema } from "@imgc/proto";
import type { KV, KvEntry, KvWatchOptions } from "nats";
import { describe, expect, it } from "vitest";
import { createMembership } from "./membership.js";

const log = createLogger("test", "silent");

/**
 * The slice of a KV bucket the membership uses: put() stores a heartbeat, watch() replays the last value of every
 * key and then follows puts, and `breakWatches()` makes every open watch go silent, as a nats-server restart does
 * to a watch's ordered consumer.
 */
function fakeBucket() {
  const values = new Map<string, KvEntry>();
  let revision = 0;
  const watches: { push(entry: KvEntry): void; silent: boolean }[] = [];
  let watchCalls = 0;
  let failWatches = 0;
  const entry = (key: string, status: WorkerStatus): KvEntry =>
    ({
      bucket: "imgc-workers",
      key,
      value: encodeMessage(WorkerStatusSchema, status),
      created: new Date(),
      revision: ++revision,
      delta: 0,
      operation: "PUT",
      length: 0,
    }) as unknown as KvEntry;

  const kv = {
    async watch(options: KvWatchOptions = {}) {
      watchCalls++;
      if (failWatches > 0) {
        failWatches--;
        throw new Error("TIMEOUT");
      }
      const queue: KvEntry[] = [...values.values()];
      let wake = () => {};
      let stopped = false;
      const watch = {
        silent: false,
        push(e: KvEntry) {
          if (watch.silent || stopped) return;
          queue.push(e);
          wake();
        },
      };
      watches.push(watch);
      queueMicrotask(() => options.initializedFn?.());
      return {
        stop() {
          stopped = true;
          wake();
        },
        async *[Symbol.asyncIterator]() {
          for (;;) {
            while (queue.length > 0) yield queue.shift() as KvEntry;
            if (stopped) return;
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
      };
    },
  };

  return {
    kv: kv as unknown as KV,
    put(id: string, pid = 1) {
      const e = entry(id, create(WorkerStatusSchema, { id, pid, host: "h", slots: 1 }));
      values.set(id, e);
      for (const watch of watches) watch.push(e);
    },
    breakWatches() {
      for (const watch of watches) watch.silent = true;
    },
    failNextWatches(n: number) {
      failWatches = n;
    },
    get watchCalls() {
      return watchCalls;
    },
  };
}

/**
 * The membership reads time from the clock it is given: the tests move a fake one and sweep by hand, so that
 * every bound is the configured timeout exactly, whatever the machine's load. The fake bucket delivers through
 * promises, so letting the event loop turn once is enough for every put to be applied.
 */
function harness(timeoutMs: number) {
  const bucket = fakeBucket();
  const gone: string[] = [];
  let clock = 0;
  const membership = createMembership({
    kv: bucket.kv,
    timeoutMs,
    log,
    now: () => clock,
    onGone: (s) => void gone.push(s.id),
  });
  const settle = async () => {
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    bucket,
    gone,
    membership,
    settle,
    /** Starts with no sweeper of its own: the test sweeps. */
    start: () => membership.start(2 ** 30),
    get clock() {
      return clock;
    },
    /** Lets what was put land at the current time, moves the clock on, and sweeps. */
    async tick(ms: number) {
      await settle();
      clock += ms;
      await settle();
      membership.sweep();
      await settle();
    },
  };
}

/** Waits for a condition that the code under test reaches on its own timers (its retry backoff). */
async function until(check: () => boolean, what: string) {
  for (const deadline = Date.now() + 20_000; !check(); ) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("membership", () => {
  it("declares a worker gone once its heartbeats stop for the timeout, not before", async () => {
    const h = harness(400);
    h.bucket.put("a");
    h.bucket.put("b");
    await h.start();
    // "a" beats every 100 ms, "b" never again: at exactly the timeout, "b" is not gone yet; just past it, it is.
    for (let t = 0; t < 400; t += 100) {
      await h.tick(100);
      h.bucket.put("a");
    }
    expect(h.gone).toEqual([]);
    await h.tick(1);
    expect(h.gone).toEqual(["b"]);
    expect(h.membership.isLive("a")).toBe(true);
    await h.membership.stop();
  });

  it("recreates a watch that went silent instead of declaring every worker gone, then follows heartbeats again", async () => {
    const h = harness(400);
    h.bucket.put("a");
    h.bucket.put("b");
    await h.start();
    // The server restarts: the old watch delivers nothing more, though the workers go on beating.
    h.bucket.breakWatches();
    for (let t = 0; t < 1_200; t += 100) {
      h.bucket.put("a");
      h.bucket.put("b");
      await h.tick(100);
    }
    // Three timeouts of silence on the old watch, and nobody was judged for it: the watch was recreated.
    expect(h.bucket.watchCalls).toBe(2);
    expect(h.gone).toEqual([]);
    expect(h.membership.list().map((s) => s.id)).toEqual(["a", "b"]);
    // And the recreated watch is a working one: workers that stop now are still noticed, one timeout (and the
    // check of the watch that their silence prompts) later.
    for (let t = 0; t <= 400 && h.gone.length < 2; t += 100) await h.tick(100);
    expect(h.gone.sort()).toEqual(["a", "b"]);
    await h.membership.stop();
  });

  it("waits out a NATS that cannot be reached to recreate the watch, and judges no one meanwhile", async () => {
    const h = harness(200);
    h.bucket.put("a");
    await h.start();
    h.bucket.breakWatches();
    h.bucket.failNextWatches(2);
    // Silent past half the timeout: the watch is recreated, which fails twice (the code's own backoff, real
    // time, runs meanwhile). However far the clock moves during that, no one is judged.
    await h.tick(201);
    expect(h.bucket.watchCalls).toBe(2);
    await h.tick(10_000);
    expect(h.gone).toEqual([]);
    // The first watch, two failed attempts, and the one that works.
    await until(() => h.bucket.watchCalls === 4, "the watch recreated at the third attempt");
    await h.settle();
    // Back: ages start again from then. Its last heartbeat is ten seconds old by the clock, yet "a" is judged
    // from the watch's return (its silence meanwhile was the watch's), and heartbeats keep it alive after.
    await h.tick(100);
    expect(h.gone).toEqual([]);
    for (let t = 0; t < 400; t += 50) {
      h.bucket.put("a");
      await h.tick(50);
    }
    expect(h.gone).toEqual([]);
    expect(h.membership.isLive("a")).toBe(true);
    await h.membership.stop();
  });

  it("does not take a replayed heartbeat for a new one: a dead worker is noticed though its key is still there", async () => {
    const h = harness(400);
    h.bucket.put("a");
    await h.start();
    // "a" dies; its key stays in the bucket (the TTL is longer), and the recreated watch replays it.
    while (h.gone.length === 0 && h.clock < 2_000) await h.tick(50);
    expect(h.bucket.watchCalls).toBe(2);
    expect(h.gone).toEqual(["a"]);
    // Noticed at the first sweep past the timeout from its last real heartbeat, not a timeout after the replay.
    expect(h.clock).toBe(450);
    await h.membership.stop();
  });
});
