import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { AbortedError, createLogger } from "@imgc/common";
import { CompressionOptionsSchema, DetectionOptionsSchema, ErrorCode, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import type { Limits } from "./engine.js";
import { createEnginePool, type EnginePool } from "./engine-pool.js";
import { ItemError } from "./item-error.js";

// The item's code the pool rejected with: an ItemError carried across the child-process boundary.
const codeOf = (err: unknown) => (ItemError.is(err) ? err.code : undefined);

const log = createLogger("test", process.env.TEST_LOG ?? "silent");
const limits: Limits = { maxInputBytes: 64 << 20, maxPixels: 100_000_000, maxFrames: 500, timeoutMs: 1_000 };
const webp = create(CompressionOptionsSchema, { format: ImageFormat.WEBP });
const photo = readFileSync(path.resolve(import.meta.dirname, "../../../shared/corpus/photos/rocket.jpg"));

/** A 300-byte SVG that librsvg renders for about a minute, in one call that sharp's timeout never interrupts. */
const hangingSvg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000">
<defs><filter id="f" x="0" y="0" width="1" height="1"><feTurbulence baseFrequency="0.001" numOctaves="10"/>
<feGaussianBlur stdDeviation="500"/></filter></defs><rect width="4000" height="4000" filter="url(#f)"/></svg>`);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Whether the process is gone within a second (a killed child is reaped when its exit event is handled). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 20 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return !alive(pid);
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); ) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let pool: EnginePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const start = (size = 1) => {
  pool = createEnginePool({ size, log, execArgv: ["--import", "tsx"] });
  return pool;
};

describe("engine pool", () => {
  it("compresses in a child and hands back the bytes as a Buffer", async () => {
    const engine = start();
    const out = await engine.compress(photo, webp, limits);
    expect(Buffer.isBuffer(out.data)).toBe(true);
    expect((await sharp(out.data).metadata()).format).toBe("webp");
    expect(out.format).toBe(ImageFormat.WEBP);
    expect(engine.pids()).toHaveLength(1);
    expect(engine.pids()[0]).not.toBe(process.pid);
  });

  it("passes the engine's stable error codes through", async () => {
    const engine = start();
    const err = await engine.compress(Buffer.alloc(0), webp, limits).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    expect(codeOf(new Error("not the engine's"))).toBeUndefined();
  });

  it("kills a child whose decoder hangs past the deadline, and the next image gets a fresh child", async () => {
    const engine = start();
    await engine.compress(photo, webp, limits); // the child is up
    const [first] = engine.pids() as [number];
    const started = Date.now();
    const err = await engine.compress(hangingSvg, webp, limits).catch((e: unknown) => e);
    // Cut at the deadline, not after the minute the render would take.
    expect(Date.now() - started).toBeLessThan(limits.timeoutMs + 2_500);
    expect(codeOf(err)).toBe(ErrorCode.TIMEOUT);
    expect(await gone(first)).toBe(true);
    const out = await engine.compress(photo, webp, limits);
    expect(out.format).toBe(ImageFormat.WEBP);
    expect(engine.pids()).not.toContain(first);
  }, 20_000);

  it("kills the child at once when the caller aborts (a released chunk)", async () => {
    const engine = start();
    await engine.ready();
    const [first] = engine.pids() as [number];
    const abort = new AbortController();
    const pending = engine.compress(hangingSvg, webp, { ...limits, timeoutMs: 60_000 }, abort.signal);
    setTimeout(() => abort.abort(), 500);
    const err = await pending.catch((e: unknown) => e);
    expect(AbortedError.is(err), String(err)).toBe(true);
    expect(await gone(first)).toBe(true);
  }, 20_000);

  it("a cancel mid-image kills that child only: its successor starts at once and the pool stays whole", async () => {
    const engine = start(2);
    await engine.ready();
    await until(() => engine.pids().length === 2);
    const abort = new AbortController();
    const lease = await engine.lease(abort.signal);
    const cancelled = lease.compress(hangingSvg, webp, { ...limits, timeoutMs: 60_000 }, abort.signal);
    // The other child compresses meanwhile and is not disturbed.
    const beside = engine.compress(photo, webp, limits);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = engine.pids();
    const started = Date.now();
    abort.abort();
    const err = await cancelled.catch((e: unknown) => e);
    lease.release();
    expect(AbortedError.is(err), String(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(500);
    expect((await beside).format).toBe(ImageFormat.WEBP);
    const ended = await Promise.all(before.map((pid) => gone(pid)));
    const killed = before.filter((_, at) => ended[at]);
    expect(killed).toHaveLength(1);
    // Replaced without an image asking: two children again, one of them new.
    await until(() => engine.pids().length === 2 && !engine.pids().includes(killed[0] as number));
    await engine.ready();
    const both = await Promise.all([engine.compress(photo, webp, limits), engine.compress(photo, webp, limits)]);
    expect(both.map((out) => out.format)).toEqual([ImageFormat.WEBP, ImageFormat.WEBP]);
  }, 30_000);

  it("tries an image once more when its child dies under it, then fails it INTERNAL if that one dies too", async () => {
    const crashesLeft = path.join(mkdtempSync(path.join(os.tmpdir(), "engine-pool-")), "crashes-left");
    process.env.IMGC_TEST_CRASHES_LEFT_FILE = crashesLeft;
    try {
      pool = createEnginePool({
        size: 1,
        log,
        execArgv: ["--import", "tsx"],
        modulePath: fileURLToPath(new URL("./testing/crashing-engine-child.ts", import.meta.url)),
      });
      // One crash: the second child finishes the image.
      writeFileSync(crashesLeft, "1");
      expect((await pool.compress(photo, webp, limits)).format).toBe(ImageFormat.WEBP);
      // Two: the image fails with a code, and the pool (the worker) lives on with a fresh child.
      writeFileSync(crashesLeft, "2");
      const err = await pool.compress(photo, webp, limits).catch((e: unknown) => e);
      expect(codeOf(err)).toBe(ErrorCode.INTERNAL);
      expect((err as Error).message).toMatch(/crashed on this input twice \(SIGSEGV\)/);
      expect((await pool.compress(photo, webp, limits)).format).toBe(ImageFormat.WEBP);
    } finally {
      delete process.env.IMGC_TEST_CRASHES_LEFT_FILE;
    }
  }, 30_000);

  it("survives a child killed while idle: the image goes to a fresh child, no 'error' event escapes", async () => {
    const engine = start();
    await engine.ready();
    const [first] = engine.pids() as [number];
    process.kill(first, "SIGKILL");
    // At once, before the exit is seen: the dead child still looks idle and ready.
    const out = await engine.compress(photo, webp, limits);
    expect(out.format).toBe(ImageFormat.WEBP);
    expect(engine.pids()).not.toContain(first);
  }, 20_000);

  it("runs as many images at once as it has children, and queues the rest", async () => {
    const engine = start(2);
    const outs = await Promise.all(Array.from({ length: 5 }, () => engine.compress(photo, webp, limits)));
    expect(outs.map((o) => o.format)).toEqual(Array(5).fill(ImageFormat.WEBP));
    expect(engine.pids()).toHaveLength(2);
  });

  it("ready() waits for a child to be up, so that starting one never counts against an image's deadline", async () => {
    const engine = start();
    await engine.ready();
    const [first] = engine.pids() as [number];
    // A hang kills the child; ready() then waits for the replacement, and the next image runs at full speed.
    await engine.compress(hangingSvg, webp, limits).catch(() => {});
    expect(await gone(first)).toBe(true);
    await engine.ready();
    const started = Date.now();
    await engine.compress(photo, webp, { ...limits, timeoutMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(limits.timeoutMs);
  }, 20_000);

  it("leases only a child that is up: two images at once while one child restarts both run within their time", async () => {
    const engine = start(2);
    await engine.compress(hangingSvg, webp, limits).catch(() => {}); // one child killed, one up
    const started = Date.now();
    const leases = await Promise.all([engine.lease(), engine.lease()]);
    const leasedAfterMs = Date.now() - started;
    const timed = leases.map(async (lease) => {
      const at = Date.now();
      try {
        await lease.compress(photo, webp, { ...limits, timeoutMs: 60_000 });
      } finally {
        lease.release();
      }
      return Date.now() - at;
    });
    // Each image, once leased, runs in a child that is up: no image waits for a start inside its own time.
    for (const ms of await Promise.all(timed)) expect(ms).toBeLessThan(limits.timeoutMs);
    expect(leasedAfterMs).toBeGreaterThan(0);
  }, 30_000);

  it("an abort before an image starts gives the child back instead of killing it", async () => {
    const engine = start();
    await engine.ready();
    const [first] = engine.pids() as [number];
    const abort = new AbortController();
    abort.abort();
    const err = await engine.compress(photo, webp, limits, abort.signal).catch((e: unknown) => e);
    expect(AbortedError.is(err)).toBe(true);
    await engine.compress(photo, webp, limits);
    expect(engine.pids()).toEqual([first]);
  }, 20_000);

  it("replaces a child that died at once, before any image asks for it", async () => {
    const engine = start();
    await engine.ready();
    const [first] = engine.pids() as [number];
    process.kill(first, "SIGKILL");
    expect(await gone(first)).toBe(true);
    expect(engine.pids()).toHaveLength(1);
    expect(engine.pids()).not.toContain(first);
  }, 20_000);

  it("replaces a child after maxItemsPerChild images, between images: the successor starts before the next image asks", async () => {
    pool = createEnginePool({ size: 1, log, execArgv: ["--import", "tsx"], maxItemsPerChild: 3 });
    const engine = pool;
    const seen: number[][] = [];
    for (let i = 0; i < 7; i++) {
      expect((await engine.compress(photo, webp, limits)).format).toBe(ImageFormat.WEBP);
      seen.push(engine.pids());
    }
    const [a, b, c] = [seen[0]?.[0], seen[3]?.[0], seen[6]?.[0]];
    // Three images per child; the replacement is already starting when the third image's answer arrives.
    expect(seen.map((p) => p.length)).toEqual(Array(7).fill(1));
    expect([seen[1]?.[0], seen[2]?.[0]]).toEqual([a, b]);
    expect(seen[2]?.[0]).not.toBe(a);
    expect([seen[4]?.[0], seen[5]?.[0]]).toEqual([b, c]);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(engine.recycled()).toBe(2);
    expect(await gone(a as number)).toBe(true);
    expect(await gone(b as number)).toBe(true);
  }, 60_000);

  it("replaces a child whose memory after an image is over maxRssBytes, losing no image, several at once", async () => {
    // Every child is over one byte: each is replaced after each image, two at a time.
    pool = createEnginePool({ size: 2, log, execArgv: ["--import", "tsx"], maxRssBytes: 1 });
    const engine = pool;
    const outs = await Promise.all(Array.from({ length: 6 }, () => engine.compress(photo, webp, limits)));
    expect(outs.map((o) => o.format)).toEqual(Array(6).fill(ImageFormat.WEBP));
    expect(engine.recycled()).toBe(6);
    expect(engine.pids()).toHaveLength(2);
  }, 60_000);

  it("keeps its children without limits: none is replaced", async () => {
    const engine = start();
    for (let i = 0; i < 3; i++) await engine.compress(photo, webp, limits);
    expect(engine.recycled()).toBe(0);
  });

  it("close() ends every child", async () => {
    const engine = start(2);
    const pids = engine.pids();
    await engine.compress(photo, webp, limits);
    await engine.close();
    pool = undefined;
    expect(await Promise.all(pids.map(gone))).toEqual([true, true]);
  });
});

describe("engine pool detecting", () => {
  const detecting = () => {
    pool = createEnginePool({ size: 1, log, task: "detect", execArgv: ["--import", "tsx"] });
    return pool;
  };
  const coffee = readFileSync(path.resolve(import.meta.dirname, "../../../shared/corpus/photos/coffee.png"));
  const detectLimits = { ...limits, timeoutMs: 30_000 };

  it("runs the model in a child: the worker's own process never loads TensorFlow.js", async () => {
    const engine = detecting();
    const outcome = await engine.detect(coffee, create(DetectionOptionsSchema), detectLimits);
    expect(outcome.objects[0]?.label).toBe("cup");
    expect(outcome.sourceWidth).toBe(600);
    expect(engine.pids()[0]).not.toBe(process.pid);
    // This test process imported the pool and its types only.
    const loaded = Object.keys((await import("node:module")).createRequire(import.meta.url).cache);
    expect(loaded.some((file) => file.includes("@tensorflow"))).toBe(false);
  });

  it("fails a bad image with the pipeline's code, and the child serves the next one", async () => {
    const engine = detecting();
    const err = await engine.detect(Buffer.from("not an image"), create(DetectionOptionsSchema), detectLimits).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(codeOf(err)).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    const pid = engine.pids()[0];
    expect((await engine.detect(coffee, create(DetectionOptionsSchema), detectLimits)).objects.length).toBeGreaterThan(
      0,
    );
    expect(engine.pids()[0]).toBe(pid);
  });

  it("refuses work of the other kind rather than misreading its options", async () => {
    const engine = detecting();
    const err = await engine.compress(photo, webp, limits).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(codeOf(err)).toBe(ErrorCode.INTERNAL);
  });
});
