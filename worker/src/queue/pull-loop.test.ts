import { createLogger, defaultTopology, ensureTopology, type LaneName, taskSubject } from "@imgc/common";
import { connect, type JsMsg, type NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../testing/nats-server.js";
import { createPullLoop, type PullLoop, pickLane } from "./pull-loop.js";
import { createSlots } from "./slots.js";

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

async function publish(lane: LaneName, body: string) {
  await nc.jetstream().publish(taskSubject(lane), new TextEncoder().encode(body));
}

async function until(check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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
    const slots = createSlots(2);
    const held: JsMsg[] = [];
    loop = createPullLoop({ js: nc.jetstream(), slots, log, dispatch: (msg) => held.push(msg) });
    loop.start();
    await until(() => held.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(held.length).toBe(2);
    expect(slots.busy).toBe(2);

    held[0]?.ack();
    slots.release();
    await until(() => held.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(held.length).toBe(3);
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

  it("drains a busy lane without idle waits between chunks", async () => {
    const count = 60;
    for (let i = 0; i < count; i++) await publish("low", `l${i}`);
    const slots = createSlots(1);
    let done = 0;
    const started = performance.now();
    loop = createPullLoop({
      js: nc.jetstream(),
      slots,
      log,
      dispatch(msg) {
        msg.ack();
        done++;
        slots.release();
      },
    });
    loop.start();
    await until(() => done === count);
    const perChunkMs = (performance.now() - started) / count;
    // One idle wait alone is 1000 ms; a busy lane must cost a few ms per chunk.
    expect(perChunkMs).toBeLessThan(50);
    console.info(`busy lane: ${perChunkMs.toFixed(1)} ms per chunk over ${count} chunks`);
  });

  it("picks up new work on any lane within about a second when idle", async () => {
    const slots = createSlots(1);
    let got: { lane: LaneName; at: number } | undefined;
    loop = createPullLoop({
      js: nc.jetstream(),
      slots,
      log,
      dispatch(msg, lane) {
        got = { lane, at: performance.now() };
        msg.ack();
        slots.release();
      },
    });
    loop.start();
    const latencies: number[] = [];
    // Publish at different phases of the loop's 1 s idle waits, on lanes it may or may not be waiting on.
    const plan = [
      ["low", 150],
      ["high", 450],
      ["normal", 750],
      ["low", 950],
      ["high", 1_250],
      ["normal", 1_600],
    ] as const;
    for (const [lane, settleMs] of plan) {
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      got = undefined;
      const sent = performance.now();
      await publish(lane, "wake");
      await until(() => got !== undefined, 3_000);
      const seen = got as { lane: LaneName; at: number } | undefined;
      expect(seen?.lane).toBe(lane);
      latencies.push((seen?.at ?? 0) - sent);
    }
    expect(Math.max(...latencies)).toBeLessThan(1_300);
    console.info(`idle pick-up latencies: ${latencies.map((ms) => ms.toFixed(0)).join(", ")} ms`);
  });

  it("pulls nothing once stopped", async () => {
    const slots = createSlots(1);
    const held: JsMsg[] = [];
    loop = createPullLoop({ js: nc.jetstream(), slots, log, dispatch: (msg) => held.push(msg) });
    loop.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await loop.stop();
    await publish("normal", "late");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(held).toEqual([]);
    expect(slots.busy).toBe(0);
    const info = await (await nc.jetstreamManager()).consumers.info("IMGC_TASKS", "tasks-normal");
    expect(info.num_pending + info.num_ack_pending).toBe(1);
  });

  it("stops promptly even while NATS is unreachable", async () => {
    const lonely = await startNatsServer();
    const lonelyNc = await connect({ servers: lonely.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      await ensureTopology(lonelyNc, defaultTopology);
      const slots = createSlots(1);
      const own = createPullLoop({ js: lonelyNc.jetstream(), slots, log, dispatch: () => {} });
      own.start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await lonely.stop();
      const started = Date.now();
      await own.stop();
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await lonelyNc.close();
      await lonely.stop();
    }
  });
});
