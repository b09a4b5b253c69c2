import { createLogger, defaultTopology, ensureTopology, type LaneName, taskSubject } from "@imgc/common";
import { TaskKind } from "@imgc/proto";
import { type Consumer, connect, type JetStreamClient, type JsMsg, type NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../testing/nats-server.js";
import { createPullLoop, type PullLoop, pickLane } from "./pull-loop.js";
import { createSlots, type Slots } from "./slots.js";

const log = createLogger("test", "silent");
let server: NatsServer;
let nc: NatsConnection;
let loop: PullLoop | undefined;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await ensureTopology(nc, defaultTopology);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

afterEach(async () => {
  await loop?.stop();
  loop = undefined;
  // Leave the stream empty for the next test.
  await (await nc.jetstreamManager()).streams.purge("IMGC_TASKS");
});

async function publish(lane: LaneName, body: string, kind = TaskKind.COMPRESS) {
  await nc.jetstream().publish(taskSubject(lane, kind), new TextEncoder().encode(body));
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * What the loop did, counted where it touches NATS and its slots: every pull (and whether it came back empty,
 * i.e. waited out an idle wait), and every slot it asked for while all were busy. The tests wait on these
 * events instead of sleeping, and assert on them instead of on wall-clock time.
 */
function instrumented(js: JetStreamClient, inner: Slots) {
  const seen = { pulls: 0, emptyPulls: 0, outstandingPulls: 0, acquires: 0 };
  let onBlocked: (() => void)[] = [];
  const wrap = (consumer: Consumer) =>
    new Proxy(consumer, {
      get(target, property) {
        if (property === "next") {
          return async (options: Parameters<Consumer["next"]>[0]) => {
            seen.pulls++;
            seen.outstandingPulls++;
            try {
              const msg = await target.next(options);
              if (!msg) seen.emptyPulls++;
              return msg;
            } finally {
              seen.outstandingPulls--;
            }
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const counted = {
    consumers: { get: async (stream: string, name: string) => wrap(await js.consumers.get(stream, name)) },
  } as unknown as JetStreamClient;
  const slots: Slots = {
    get size() {
      return inner.size;
    },
    get busy() {
      return inner.busy;
    },
    acquire() {
      seen.acquires++;
      if (inner.busy >= inner.size) {
        const waiters = onBlocked;
        onBlocked = [];
        for (const wake of waiters) wake();
      }
      return inner.acquire();
    },
    release: () => inner.release(),
    idle: () => inner.idle(),
  };
  return {
    js: counted,
    slots,
    seen,
    /** Resolves when the loop next asks for a slot and none is free: it is blocked, pulling nothing. */
    blocked: () => new Promise<void>((resolve) => onBlocked.push(resolve)),
  };
}

/** Lets every promise callback already due run. */
const settle = async () => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("pickLane", () => {
  it("takes the first lane, in priority order, with pending chunks", () => {
    expect(pickLane([0, 3, 1])).toBe(1);
    expect(pickLane([2, 3, 1])).toBe(0);
    expect(pickLane([0, 0, 0])).toBeUndefined();
  });
});

describe("pull loop against a real nats-server", () => {
  it("holds no more chunks than it has slots, and pulls again when one frees", async () => {
    for (let i = 0; i < 5; i++) await publish("normal", `n${i}`);
    const probe = instrumented(nc.jetstream(), createSlots(2));
    const held: JsMsg[] = [];
    loop = createPullLoop({ js: probe.js, slots: probe.slots, log, dispatch: (msg) => held.push(msg) });
    let blocked = probe.blocked();
    loop.start();
    // Two chunks taken, then the loop waits for a slot: no pull is out, three chunks stay on the stream.
    await blocked;
    await settle();
    const lane = await nc.jetstream().consumers.get("IMGC_TASKS", "tasks-normal");
    expect(held.length).toBe(2);
    expect(probe.seen.outstandingPulls).toBe(0);
    expect((await lane.info()).num_pending).toBe(3);

    blocked = probe.blocked();
    held[0]?.ack();
    probe.slots.release();
    await blocked;
    await settle();
    expect(held.length).toBe(3);
    expect(probe.seen.outstandingPulls).toBe(0);
    expect((await lane.info()).num_pending).toBe(2);
    for (const msg of held.slice(1)) msg.ack();
  });

  it("pulls lanes in strict priority order: high, then normal, then low", async () => {
    for (const lane of ["low", "normal", "high", "low", "normal", "high"] as const) await publish(lane, lane);
    const slots = createSlots(1);
    const order: string[] = [];
    loop = createPullLoop({
      js: nc.jetstream(),
      slots,
      log,
      dispatch(msg, lane) {
        order.push(`${lane}:${msg.string()}`);
        msg.ack();
        slots.release();
      },
    });
    loop.start();
    await until(() => order.length === 6);
    expect(order).toEqual(["high:high", "high:high", "normal:normal", "normal:normal", "low:low", "low:low"]);
  });

  it("pulls only the kinds it does, a high lane of any kind first", async () => {
    await publish("normal", "compress-normal");
    await publish("normal", "detect-normal", TaskKind.DETECT);
    await publish("high", "detect-high", TaskKind.DETECT);
    await publish("low", "compress-low");
    const run = async (kinds: TaskKind[], expected: number) => {
      const slots = createSlots(1);
      const order: string[] = [];
      const own = createPullLoop({
        js: nc.jetstream(),
        slots,
        log,
        kinds,
        dispatch(msg, lane) {
          order.push(`${lane}:${msg.string()}`);
          msg.ack();
          slots.release();
        },
      });
      own.start();
      await until(() => order.length === expected);
      await own.stop();
      return order;
    };
    expect(await run([TaskKind.DETECT], 2)).toEqual(["high:detect-high", "normal:detect-normal"]);
    // The detect chunks are gone; a compression worker finds only its own.
    await publish("high", "detect-high-2", TaskKind.DETECT);
    expect(await run([TaskKind.COMPRESS], 2)).toEqual(["normal:compress-normal", "low:compress-low"]);
    const detectHigh = await nc.jetstream().consumers.get("IMGC_TASKS", "detect-high");
    expect((await detectHigh.info()).num_pending).toBe(1);
    await publish("normal", "compress-normal-2");
    expect(await run([TaskKind.COMPRESS, TaskKind.DETECT], 2)).toEqual([
      "high:detect-high-2",
      "normal:compress-normal-2",
    ]);
  });

  it("drains a busy lane without idle waits between chunks", async () => {
    const count = 60;
    for (let i = 0; i < count; i++) await publish("low", `l${i}`);
    const probe = instrumented(nc.jetstream(), createSlots(1));
    let done = 0;
    let emptyBeforeLast = -1;
    const started = performance.now();
    loop = createPullLoop({
      js: probe.js,
      slots: probe.slots,
      log,
      dispatch(msg) {
        msg.ack();
        done++;
        if (done === count) emptyBeforeLast = probe.seen.emptyPulls;
        probe.slots.release();
      },
    });
    loop.start();
    await until(() => done === count, 60_000);
    // One pull per chunk, and not one of them waited out an idle wait on an empty lane (each would cost 1 s).
    expect(emptyBeforeLast).toBe(0);
    expect(probe.seen.pulls).toBeGreaterThanOrEqual(count);
    console.info(`busy lane: ${((performance.now() - started) / count).toFixed(1)} ms per chunk over ${count} chunks`);
  });

  it("picks up new work on any lane within one idle wait", async () => {
    const probe = instrumented(nc.jetstream(), createSlots(1));
    let got: { lane: LaneName; emptyPulls: number } | undefined;
    loop = createPullLoop({
      js: probe.js,
      slots: probe.slots,
      log,
      dispatch(msg, lane) {
        got = { lane, emptyPulls: probe.seen.emptyPulls };
        msg.ack();
        probe.slots.release();
      },
    });
    loop.start();
    const waits: number[] = [];
    // Publish while an idle wait is under way (after a given number of empty ones), on lanes the loop may or
    // may not be waiting on.
    const plan = [
      ["low", 0],
      ["high", 1],
      ["normal", 0],
      ["low", 1],
      ["high", 0],
      ["normal", 2],
    ] as const;
    for (const [lane, emptyFirst] of plan) {
      const from = probe.seen.emptyPulls;
      await until(() => probe.seen.emptyPulls >= from + emptyFirst && probe.seen.outstandingPulls > 0, 30_000);
      got = undefined;
      const before = probe.seen.emptyPulls;
      await publish(lane, "wake");
      await until(() => got !== undefined, 30_000);
      const seen = got as { lane: LaneName; emptyPulls: number } | undefined;
      expect(seen?.lane).toBe(lane);
      waits.push((seen?.emptyPulls ?? 0) - before);
    }
    // At most the idle wait under way when the work came (on another lane) ran out before it was taken.
    expect(Math.max(...waits)).toBeLessThanOrEqual(1);
    console.info(`idle waits run out before pick-up: ${waits.join(", ")}`);
  }, 120_000);

  it("pulls nothing once stopped", async () => {
    const probe = instrumented(nc.jetstream(), createSlots(1));
    const held: JsMsg[] = [];
    loop = createPullLoop({ js: probe.js, slots: probe.slots, log, dispatch: (msg) => held.push(msg) });
    loop.start();
    await until(() => probe.seen.outstandingPulls > 0);
    await loop.stop();
    // The pull under way when it stopped ends within its wait; a loop still running would then ask for a slot
    // again at once. It does not, and the chunk published now stays on the stream.
    await until(() => probe.seen.outstandingPulls === 0);
    const acquires = probe.seen.acquires;
    const pulls = probe.seen.pulls;
    await publish("normal", "late");
    await settle();
    expect(probe.seen.acquires).toBe(acquires);
    expect(probe.seen.pulls).toBe(pulls);
    expect(held).toEqual([]);
    expect(probe.slots.busy).toBe(0);
    const info = await (await nc.jetstreamManager()).consumers.info("IMGC_TASKS", "tasks-normal");
    expect(info.num_pending + info.num_ack_pending).toBe(1);
  });

  it("stops even while NATS is unreachable, without waiting for it to come back", async () => {
    const lonely = await startNatsServer();
    const lonelyNc = await connect({ servers: lonely.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      await ensureTopology(lonelyNc, defaultTopology);
      const probe = instrumented(lonelyNc.jetstream(), createSlots(1));
      const own = createPullLoop({ js: probe.js, slots: probe.slots, log, dispatch: () => {} });
      own.start();
      await until(() => probe.seen.outstandingPulls > 0);
      await lonely.stop();
      // NATS never comes back in this test: stop resolving at all is the proof.
      await own.stop();
    } finally {
      await lonelyNc.close();
      await lonely.stop();
    }
  });
});
