import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createLogger, decodeMessage } from "@imgc/common";
import { TaskKind, type WorkerStatus, WorkerStatusSchema } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { createHeartbeat, type HeartbeatStore, type WorkerState } from "./heartbeat.js";
import { createThroughput } from "./throughput.js";

const log = createLogger("test", "silent");

function fakeKv() {
  const puts: Array<{ key: string; status: WorkerStatus }> = [];
  const deleted: string[] = [];
  const kv: HeartbeatStore = {
    async put(key, value) {
      puts.push({ key, status: decodeMessage(WorkerStatusSchema, value) });
      return puts.length;
    },
    async delete(key) {
      deleted.push(key);
    },
  };
  return { kv, puts, deleted };
}

const identity = {
  id: "w-1",
  host: "box",
  pid: 42,
  version: "0.1.0",
  slots: 4,
  startedAt: new Date("2026-01-01T00:00:00Z"),
  capabilities: [TaskKind.COMPRESS, TaskKind.DETECT],
};

describe("heartbeat", () => {
  it("puts the worker's full status under its id, periodically", async () => {
    const { kv, puts } = fakeKv();
    const state: WorkerState = { busy: 2, chunks: ["job1.0", "job2.3"], draining: false };
    const throughput = createThroughput();
    throughput.record(5);
    const heartbeat = createHeartbeat({ kv, identity, state: () => state, throughput, intervalMs: 50, log });
    await heartbeat.start();
    expect(puts).toHaveLength(1);
    const first = puts[0];
    expect(first?.key).toBe("w-1");
    expect(first?.status).toMatchObject({
      id: "w-1",
      host: "box",
      pid: 42,
      version: "0.1.0",
      slots: 4,
      capabilities: [TaskKind.COMPRESS, TaskKind.DETECT],
      busy: 2,
      chunks: ["job1.0", "job2.3"],
      itemsDone: 5n,
      draining: false,
    });
    expect(first?.status.itemsPerSecond).toBeGreaterThan(0);
    expect(first?.status.startedAt && timestampDate(first.status.startedAt).toISOString()).toBe(
      "2026-01-01T00:00:00.000Z",
    );
    const beatAt = first?.status.heartbeatAt ? timestampDate(first.status.heartbeatAt).getTime() : 0;
    expect(Math.abs(beatAt - Date.now())).toBeLessThan(1_000);

    state.draining = true;
    state.busy = 1;
    state.chunks = ["job2.3"];
    await new Promise((resolve) => setTimeout(resolve, 130));
    expect(puts.length).toBeGreaterThanOrEqual(3);
    expect(puts.at(-1)?.status).toMatchObject({ busy: 1, chunks: ["job2.3"], draining: true });
    await heartbeat.stop({ deregister: false });
  });

  it("deletes its key on a graceful stop and beats no more", async () => {
    const { kv, puts, deleted } = fakeKv();
    const heartbeat = createHeartbeat({
      kv,
      identity,
      state: () => ({ busy: 0, chunks: [], draining: true }),
      throughput: createThroughput(),
      intervalMs: 20,
      log,
    });
    await heartbeat.start();
    await heartbeat.stop({ deregister: true });
    const count = puts.length;
    await heartbeat.beat();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(puts.length).toBe(count);
    expect(deleted).toEqual(["w-1"]);
  });

  it("keeps beating when a put fails", async () => {
    let failures = 0;
    const { kv, puts } = fakeKv();
    const flaky: HeartbeatStore = {
      put: (key, value) => (failures++ < 2 ? Promise.reject(new Error("nats down")) : kv.put(key, value)),
      delete: kv.delete,
    };
    const heartbeat = createHeartbeat({
      kv: flaky,
      identity,
      state: () => ({ busy: 0, chunks: [], draining: false }),
      throughput: createThroughput(),
      intervalMs: 20,
      log,
    });
    await heartbeat.start();
    await new Promise((resolve) => setTimeout(resolve, 120));
    await heartbeat.stop({ deregister: false });
    expect(puts.length).toBeGreaterThan(0);
  });
});

describe("throughput", () => {
  it("counts items over the last minute only", () => {
    let t = 1_000_000;
    const throughput = createThroughput(60_000, () => t);
    t += 120_000;
    throughput.record(30);
    expect(throughput.perSecond()).toBeCloseTo(0.5);
    t += 30_000;
    throughput.record(30);
    expect(throughput.perSecond()).toBeCloseTo(1);
    t += 45_000;
    expect(throughput.perSecond()).toBeCloseTo(0.5);
    t += 30_000;
    expect(throughput.perSecond()).toBe(0);
    expect(throughput.total).toBe(60);
  });

  it("uses the worker's age while it is younger than the window", () => {
    let t = 0;
    const throughput = createThroughput(60_000, () => t);
    t = 10_000;
    throughput.record(20);
    expect(throughput.perSecond()).toBeCloseTo(2);
  });
});
