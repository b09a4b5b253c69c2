import { ConfigError } from "@imgc/common";
import { describe, expect, it } from "vitest";
import { loadWorkerConfig } from "./config.js";

describe("worker config", () => {
  it("has the documented defaults", () => {
    const config = loadWorkerConfig({});
    expect(config).toMatchObject({
      natsUrl: "nats://127.0.0.1:4222",
      coordinatorUrl: "127.0.0.1:50051",
      heartbeatMs: 2_000,
      ackWaitMs: 30_000,
      maxInputBytes: 64 * 1024 * 1024,
      maxPixels: 100_000_000,
      maxFrames: 500,
      itemTimeoutMs: 60_000,
      drainTimeoutMs: 30_000,
      engineMaxItems: 100,
      engineMaxRssMb: 512,
    });
    expect(config.slots).toBeGreaterThanOrEqual(1);
    expect(config.tasks).toEqual(["compress"]);
    expect(config.workerId).toMatch(/^[A-Za-z0-9_-]+-\d+-[0-9a-f]{6}$/);
  });

  it("reads the NATS topology's timing from the fields it shares with the coordinator", () => {
    const config = loadWorkerConfig({ IMGC_ACK_WAIT_MS: "45000", IMGC_MAX_DELIVER: "3", IMGC_WORKER_TTL_MS: "20000" });
    expect(config).toMatchObject({ ackWaitMs: 45_000, maxDeliver: 3, workerTtlMs: 20_000 });
    expect(() => loadWorkerConfig({ IMGC_MAX_DELIVER: "0" })).toThrow(
      'Expected integer between 1 and 100 for IMGC_MAX_DELIVER but received "0"',
    );
  });

  it("lists every bad value in one error", () => {
    let error: unknown;
    try {
      loadWorkerConfig({ IMGC_WORKER_SLOTS: "0", IMGC_WORKER_ID: "a.b", IMGC_MAX_PIXELS: "lots" });
    } catch (err) {
      error = err;
    }
    expect(ConfigError.is(error)).toBe(true);
    const problems = (error as ConfigError).problems;
    expect(problems).toContain('Expected integer between 1 and 64 for IMGC_WORKER_SLOTS but received "0"');
    expect(problems.some((p) => p.includes("IMGC_WORKER_ID") && p.includes('"a.b"'))).toBe(true);
    expect(problems.some((p) => p.includes("IMGC_MAX_PIXELS"))).toBe(true);
  });

  it("takes a valid worker id as given", () => {
    expect(loadWorkerConfig({ IMGC_WORKER_ID: "node-7_a" }).workerId).toBe("node-7_a");
  });

  it("takes the kinds of work as a list, and refuses unknown or repeated kinds", () => {
    expect(loadWorkerConfig({ IMGC_WORKER_TASKS: "detect" }).tasks).toEqual(["detect"]);
    expect(loadWorkerConfig({ IMGC_WORKER_TASKS: "compress, detect" }).tasks).toEqual(["compress", "detect"]);
    for (const raw of ["detect,detect", "resize", "compress,", ","]) {
      expect(() => loadWorkerConfig({ IMGC_WORKER_TASKS: raw })).toThrow(
        `Expected a comma-separated list of distinct compress, detect for IMGC_WORKER_TASKS but received ${JSON.stringify(raw)}`,
      );
    }
  });
});
