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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("membership", () => {
  it("declares a worker gone once its heartbeats stop for the timeout", async () => {
    const bucket = fakeBucket();
    const gone: string[] = [];
    const membership = createMembership({ kv: bucket.kv, timeoutMs: 400, log, onGone: (s) => void gone.push(s.id) });
    bucket.put("a");
    bucket.put("b");
    await membership.start(20);
    const beat = setInterval(() => bucket.put("a"), 50);
    await sleep(700);
    clearInterval(beat);
    expect(gone).toEqual(["b"]);
    expect(membership.isLive("a")).toBe(true);
    await membership.stop();
  });

  it("recreates a watch that went silent instead of declaring every worker gone, then follows heartbeats again", async () => {
    const bucket = fakeBucket();
    const gone: string[] = [];
    const membership = createMembership({ kv: bucket.kv, timeoutMs: 400, log, onGone: (s) => void gone.push(s.id) });
    bucket.put("a");
    bucket.put("b");
    await membership.start(20);
    const beat = setInterval(() => {
      bucket.put("a");
      bucket.put("b");
    }, 50);
    await sleep(100);
    // The server restarts: the old watch delivers nothing more, though the workers go on beating.
    bucket.breakWatches();
    await sleep(800);
    clearInterval(beat);
    expect(bucket.watchCalls).toBeGreaterThanOrEqual(2);
    expect(gone).toEqual([]);
    expect(membership.list().map((s) => s.id)).toEqual(["a", "b"]);
    // And the recreated watch is a working one: a worker that stops now is still noticed.
    await sleep(700);
    expect(gone.sort()).toEqual(["a", "b"]);
    await membership.stop();
  });

  it("waits out a NATS that cannot be reached to recreate the watch, and judges no one meanwhile", async () => {
    const bucket = fakeBucket();
    const gone: string[] = [];
    const membership = createMembership({ kv: bucket.kv, timeoutMs: 200, log, onGone: (s) => void gone.push(s.id) });
    bucket.put("a");
    await membership.start(20);
    bucket.breakWatches();
    bucket.failNextWatches(2);
    // Two failed attempts (250 ms, then 500 ms apart) keep the watch down well past the timeout.
    await sleep(600);
    expect(gone).toEqual([]);
    const beat = setInterval(() => bucket.put("a"), 40);
    await sleep(900);
    clearInterval(beat);
    expect(gone).toEqual([]);
    expect(membership.isLive("a")).toBe(true);
    await membership.stop();
  });

  it("does not take a replayed heartbeat for a new one: a dead worker is noticed though its key is still there", async () => {
    const bucket = fakeBucket();
    const gone: string[] = [];
    const membership = createMembership({ kv: bucket.kv, timeoutMs: 300, log, onGone: (s) => void gone.push(s.id) });
    bucket.put("a");
    await membership.start(20);
    const started = Date.now();
    // "a" dies; its key stays in the bucket (the TTL is longer), and each recreated watch replays it.
    while (gone.length === 0 && Date.now() - started < 3_000) await sleep(20);
    expect(gone).toEqual(["a"]);
    expect(Date.now() - started).toBeLessThan(900);
    await membership.stop();
  });
});
