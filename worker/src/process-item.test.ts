import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { AbortedError, createLogger, StorageError, TooLargeError } from "@imgc/common";
import {
  type Chunk,
  type ChunkItem,
  ChunkItemSchema,
  ChunkSchema,
  CompressionOptionsSchema,
  DetectionOptionsSchema,
  ErrorCode,
  ImageFormat,
  ItemState,
  TaskKind,
} from "@imgc/proto";
import { describe, expect, it } from "vitest";
import type { DetectOutcome } from "./detect/detector.js";
import type { CompressOutcome, Engine, Limits } from "./engine.js";
import { createEnginePool } from "./engine-pool.js";
import { ItemError } from "./item-error.js";
import { createItemProcessor, type ItemProcessorDeps, type ObjectStore } from "./process-item.js";
import { type CacheStore, createResultCache } from "./result-cache.js";

const log = createLogger("test", "silent");
const limits: Limits = { maxInputBytes: 1_000, maxPixels: 1_000_000, maxFrames: 10, timeoutMs: 2_000 };
const source = Buffer.from("pretend this is a JPEG");

function memoryStore() {
  const objects = new Map<string, { body: Buffer; contentType: string }>();
  const calls = { get: 0, put: 0 };
  const store: ObjectStore = {
    async get(bucket, key, maxBytes) {
      calls.get++;
      const object = objects.get(`${bucket}/${key}`);
      if (!object) throw new StorageError(`get ${bucket}/${key}: not found`, "not-found");
      if (object.body.length > maxBytes) {
        throw new StorageError("get: too large", "rejected", { cause: new TooLargeError(maxBytes) });
      }
      return object.body;
    },
    async put(bucket, key, body, contentType) {
      calls.put++;
      objects.set(`${bucket}/${key}`, { body, contentType });
    },
  };
  objects.set("imgc/uploads/t/1/a.jpg", { body: source, contentType: "image/jpeg" });
  return { store, objects, calls };
}

function outcome(overrides: Partial<CompressOutcome> = {}): CompressOutcome {
  return {
    kind: "compressed",
    data: Buffer.from("webp!"),
    format: ImageFormat.WEBP,
    inputFormat: ImageFormat.JPEG,
    extension: "webp",
    contentType: "image/webp",
    width: 640,
    height: 480,
    quality: 78,
    ssim: 0.987,
    score: 81.5,
    ...overrides,
  };
}

function fakeEngine(run: (signal?: AbortSignal) => Promise<CompressOutcome>) {
  const seen: { calls: number; signal?: AbortSignal } = { calls: 0 };
  const engine: Engine = {
    compress(_input, _options, _limits, signal) {
      seen.calls++;
      if (signal) seen.signal = signal;
      return run(signal);
    },
  };
  return { engine, seen };
}

function chunkOf(items: ChunkItem[], options = create(CompressionOptionsSchema), tenant = "t"): Chunk {
  return create(ChunkSchema, {
    jobId: "job1",
    tenant,
    index: 0,
    items,
    options,
    outputBucket: "imgc",
    outputPrefix: "outputs/t/job1/",
  });
}

const item = (itemId = "000000", key = "uploads/t/1/a.jpg", size = source.length) =>
  create(ChunkItemSchema, { itemId, bucket: "imgc", key, size: BigInt(size) });

function processor(overrides: Partial<ItemProcessorDeps> & Pick<ItemProcessorDeps, "store">) {
  return createItemProcessor({
    limits,
    workerId: "w-1",
    defaultBucket: "imgc",
    log,
    storageRetryMs: 300,
    ...overrides,
  });
}

const live = () => new AbortController().signal;

describe("processItem", () => {
  it("compresses, writes the output to its deterministic key and describes it", async () => {
    const { store, objects } = memoryStore();
    const { engine } = fakeEngine(async () => outcome());
    const result = await processor({ store, engine })(chunkOf([item()]), item(), live());
    expect(result).toMatchObject({
      itemId: "000000",
      sourceKey: "uploads/t/1/a.jpg",
      state: ItemState.DONE,
      outputKey: "outputs/t/job1/000000.webp",
      format: ImageFormat.WEBP,
      inputFormat: ImageFormat.JPEG,
      inputBytes: BigInt(source.length),
      outputBytes: 5n,
      width: 640,
      height: 480,
      quality: 78,
      ssim: 0.987,
      score: 81.5,
      workerId: "w-1",
      cacheHit: false,
      errorCode: ErrorCode.UNSPECIFIED,
      sourceSha256: createHash("sha256").update(source).digest("hex"),
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(objects.get("imgc/outputs/t/job1/000000.webp")).toEqual({
      body: Buffer.from("webp!"),
      contentType: "image/webp",
    });
  });

  it("reports a kept original with its reason", async () => {
    const { store, objects } = memoryStore();
    const { engine } = fakeEngine(async () =>
      outcome({
        kind: "kept-original",
        data: source,
        format: ImageFormat.JPEG,
        extension: "jpg",
        contentType: "image/jpeg",
        quality: 0,
        keptReason: "every encoding was larger than the original",
      }),
    );
    const result = await processor({ store, engine })(chunkOf([item()]), item(), live());
    expect(result).toMatchObject({
      state: ItemState.KEPT_ORIGINAL,
      outputKey: "outputs/t/job1/000000.jpg",
      keptReason: "every encoding was larger than the original",
      outputBytes: BigInt(source.length),
    });
    expect(objects.get("imgc/outputs/t/job1/000000.jpg")?.body).toEqual(source);
  });

  it("passes the engine's stable error codes through", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(async () => {
      throw new ItemError(ErrorCode.PIXEL_LIMIT, "the image has 200 megapixels, more than 100");
    });
    const result = await processor({ store, engine })(chunkOf([item()]), item(), live());
    expect(result).toMatchObject({
      state: ItemState.FAILED,
      errorCode: ErrorCode.PIXEL_LIMIT,
      errorMessage: "the image has 200 megapixels, more than 100",
      outputKey: "",
      sourceSha256: createHash("sha256").update(source).digest("hex"),
    });
  });

  it("turns an unexpected engine error into INTERNAL without leaking its message", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(async () => {
      throw new Error("segfault-ish detail at /opt/secret/path");
    });
    const result = await processor({ store, engine })(chunkOf([item()]), item(), live());
    expect(result.state).toBe(ItemState.FAILED);
    expect(result.errorCode).toBe(ErrorCode.INTERNAL);
    expect(result.errorMessage).not.toContain("secret");
  });

  it("fails with TIMEOUT when the engine runs past the item timeout, and tells the engine to stop", async () => {
    const { store, calls } = memoryStore();
    const { engine, seen } = fakeEngine(() => new Promise(() => {}));
    const started = Date.now();
    const result = await processor({ store, engine, limits: { ...limits, timeoutMs: 150 } })(
      chunkOf([item()]),
      item(),
      live(),
    );
    expect(result).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.TIMEOUT });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(seen.signal?.aborted).toBe(true);
    expect(calls.put).toBe(0);
  });

  it("starts the item's timeout only once the engine is ready (a restarting engine child is not the image's time)", async () => {
    const { store } = memoryStore();
    // The engine takes 300 ms to come up, then 100 ms per image: over the 200 ms limit only if its start counts.
    const up = new Promise<void>((resolve) => setTimeout(resolve, 300));
    const { engine } = fakeEngine(async () => {
      await up;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return outcome();
    });
    let released = 0;
    engine.lease = async () => {
      await up;
      return { compress: engine.compress, release: () => void released++ };
    };
    const result = await processor({ store, engine, limits: { ...limits, timeoutMs: 200 } })(
      chunkOf([item()]),
      item(),
      live(),
    );
    expect(result.state).toBe(ItemState.DONE);
    expect(released).toBe(1);
  });

  it("times a crashed child's retry afresh: the wait for its replacement to come up is not the image's time", async () => {
    const { store } = memoryStore();
    const crashesLeft = path.join(mkdtempSync(path.join(os.tmpdir(), "process-item-")), "crashes-left");
    writeFileSync(crashesLeft, "1");
    // Each child takes 1.5 s to come up, three times the item's limit: the retry waits that long for the
    // replacement of the child that crashed under the image, then runs it at once.
    process.env.IMGC_TEST_CRASHES_LEFT_FILE = crashesLeft;
    process.env.IMGC_TEST_START_MS = "1500";
    const pool = createEnginePool({
      size: 1,
      log,
      execArgv: ["--import", "tsx"],
      modulePath: fileURLToPath(new URL("./testing/crashing-engine-child.ts", import.meta.url)),
    });
    delete process.env.IMGC_TEST_CRASHES_LEFT_FILE;
    delete process.env.IMGC_TEST_START_MS;
    try {
      const result = await processor({ store, engine: pool, limits: { ...limits, timeoutMs: 500 } })(
        chunkOf([item()]),
        item(),
        live(),
      );
      expect(result.errorMessage).toBe("");
      expect(result.state).toBe(ItemState.DONE);
      expect(readFileSync(crashesLeft, "utf8")).toBe("0");
    } finally {
      await pool.close();
    }
  }, 20_000);

  it("throws AbortedError, reporting nothing, when the chunk is released mid-item", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(() => new Promise(() => {}));
    const release = new AbortController();
    const running = processor({ store, engine })(chunkOf([item()]), item(), release.signal);
    setTimeout(() => release.abort(), 50);
    await expect(running).rejects.toBeInstanceOf(AbortedError);
  });

  it("fails FILE_TOO_LARGE from the listed size without downloading", async () => {
    const { store, calls } = memoryStore();
    const { engine, seen } = fakeEngine(async () => outcome());
    const result = await processor({ store, engine })(chunkOf([]), item("000001", "uploads/t/1/a.jpg", 5_000), live());
    expect(result).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.FILE_TOO_LARGE, inputBytes: 5_000n });
    expect(result.errorMessage).toBe("The source is 5000 bytes, more than the limit of 1000 bytes (1 KB)");
    expect(calls.get).toBe(0);
    expect(seen.calls).toBe(0);
  });

  it("fails FILE_TOO_LARGE when the object turns out larger than listed", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(async () => outcome());
    const result = await processor({ store, engine, limits: { ...limits, maxInputBytes: 10 } })(
      chunkOf([]),
      item("000001", "uploads/t/1/a.jpg", 1),
      live(),
    );
    expect(result).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.FILE_TOO_LARGE });
    expect(result.errorMessage).toBe("The source is larger than the limit of 10 bytes");
  });

  it("fails SOURCE_NOT_FOUND for a missing source", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(async () => outcome());
    const result = await processor({ store, engine })(chunkOf([]), item("000002", "uploads/t/1/gone.jpg"), live());
    expect(result).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.SOURCE_NOT_FOUND });
    expect(result.errorMessage).toContain("uploads/t/1/gone.jpg");
  });

  it("reads only the version of the source the coordinator checked: one written again fails, never compressed", async () => {
    const { store } = memoryStore();
    const asked: (string | undefined)[] = [];
    const pinned: ObjectStore = {
      ...store,
      async get(bucket, key, maxBytes, etag) {
        asked.push(etag);
        if (etag !== undefined && etag !== "etag-now") {
          throw new StorageError(`get ${bucket}/${key}: the object changed since it was checked`, "changed");
        }
        return store.get(bucket, key, maxBytes);
      },
    };
    const { engine, seen } = fakeEngine(async () => outcome());
    const swapped = create(ChunkItemSchema, { ...item(), sourceEtag: "etag-then" });
    const result = await processor({ store: pinned, engine })(chunkOf([swapped]), swapped, live());
    expect(result).toMatchObject({
      state: ItemState.FAILED,
      errorCode: ErrorCode.SOURCE_NOT_FOUND,
      errorMessage:
        "The source was written again after the job was submitted; upload it to a new slot and submit it again",
    });
    expect(seen.calls).toBe(0);
    const same = create(ChunkItemSchema, { ...item(), sourceEtag: "etag-now" });
    expect((await processor({ store: pinned, engine })(chunkOf([same]), same, live())).state).toBe(ItemState.DONE);
    // An item without an ETag (a fetched URL, an older coordinator) is read unpinned.
    await processor({ store: pinned, engine })(chunkOf([item()]), item(), live());
    expect(asked).toEqual(["etag-then", "etag-now", undefined]);
  });

  it("retries unreachable storage and succeeds when it comes back", async () => {
    const { store } = memoryStore();
    let failures = 2;
    const flaky: ObjectStore = {
      get: (bucket, key, max) =>
        failures-- > 0 ? Promise.reject(new StorageError("down", "unavailable")) : store.get(bucket, key, max),
      put: store.put,
    };
    const { engine } = fakeEngine(async () => outcome());
    const result = await processor({ store: flaky, engine, storageRetryMs: 5_000 })(chunkOf([]), item(), live());
    expect(result.state).toBe(ItemState.DONE);
    expect(failures).toBe(-1);
  });

  it("fails STORAGE_UNAVAILABLE when storage stays unreachable (read or write)", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(async () => outcome());
    const down = () => Promise.reject(new StorageError("down", "unavailable"));
    const readDown = await processor({ store: { get: down, put: store.put }, engine })(chunkOf([]), item(), live());
    expect(readDown).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.STORAGE_UNAVAILABLE });
    const writeDown = await processor({ store: { get: store.get, put: down }, engine })(chunkOf([]), item(), live());
    expect(writeDown).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.STORAGE_UNAVAILABLE });
  });
});

describe("processItem with the result cache", () => {
  function memoryKv() {
    const entries = new Map<string, Uint8Array>();
    const kv: CacheStore = {
      async get(key) {
        const value = entries.get(key);
        return value ? { value, operation: "PUT" } : null;
      },
      async put(key, value) {
        entries.set(key, value);
        return entries.size;
      },
    };
    return { kv, entries };
  }

  it("reuses an identical earlier output instead of compressing again", async () => {
    const { store, objects } = memoryStore();
    objects.set("imgc/uploads/t/2/copy.jpg", { body: Buffer.from(source), contentType: "image/jpeg" });
    const { engine, seen } = fakeEngine(async () => outcome());
    const cache = createResultCache(memoryKv().kv, "engine-1", log);
    const run = processor({ store, engine, cache });

    const first = await run(chunkOf([]), item("000000"), live());
    const second = await run(chunkOf([]), item("000001", "uploads/t/2/copy.jpg"), live());
    expect(seen.calls).toBe(1);
    expect(first.cacheHit).toBe(false);
    expect(second).toMatchObject({
      state: ItemState.DONE,
      cacheHit: true,
      outputKey: "outputs/t/job1/000001.webp",
      outputBytes: 5n,
      format: ImageFormat.WEBP,
      width: 640,
      quality: 78,
    });
    expect(objects.get("imgc/outputs/t/job1/000001.webp")?.body).toEqual(Buffer.from("webp!"));
  });

  it("never reuses another tenant's output: a hit would tell one tenant what another compressed", async () => {
    const { store, objects } = memoryStore();
    objects.set("imgc/uploads/u/1/a.jpg", { body: Buffer.from(source), contentType: "image/jpeg" });
    const { engine, seen } = fakeEngine(async () => outcome());
    const cache = createResultCache(memoryKv().kv, "engine-1", log);
    const run = processor({ store, engine, cache });

    await run(chunkOf([]), item("000000"), live());
    const other = await run(chunkOf([], undefined, "u"), item("000000", "uploads/u/1/a.jpg"), live());
    expect([other.cacheHit, seen.calls]).toEqual([false, 2]);
    // Within one tenant the cache still works.
    const same = await run(chunkOf([], undefined, "u"), item("000001", "uploads/u/1/a.jpg"), live());
    expect([same.cacheHit, seen.calls]).toEqual([true, 2]);
  });

  it("reports a multipage input's page count and note, from the engine and from the cache", async () => {
    const { store } = memoryStore();
    const note = "The TIFF has 2 pages; only page 1 was compressed (no output format holds pages)";
    const { engine } = fakeEngine(async () => outcome({ inputFormat: ImageFormat.TIFF, inputPages: 2, note }));
    const run = processor({ store, engine, cache: createResultCache(memoryKv().kv, "engine-1", log) });
    const first = await run(chunkOf([]), item("000000"), live());
    const second = await run(chunkOf([]), item("000001"), live());
    expect([first.inputPages, first.note, first.cacheHit]).toEqual([2, note, false]);
    expect([second.inputPages, second.note, second.cacheHit]).toEqual([2, note, true]);
  });

  it("reports a shrink to fit as structured fields and a note, from the engine and from the cache", async () => {
    const { store } = memoryStore();
    const note = "Resized from 2725×2225 to 1408×1150 to fit 50 KB";
    const { engine } = fakeEngine(async () =>
      outcome({ width: 1408, height: 1150, note, shrunkFrom: { width: 2725, height: 2225 } }),
    );
    const run = processor({ store, engine, cache: createResultCache(memoryKv().kv, "engine-1", log) });
    const first = await run(chunkOf([]), item("000000"), live());
    const second = await run(chunkOf([]), item("000001"), live());
    for (const [result, hit] of [
      [first, false],
      [second, true],
    ] as const) {
      expect([
        result.shrunkToFit,
        result.shrunkFromWidth,
        result.shrunkFromHeight,
        result.note,
        result.cacheHit,
      ]).toEqual([true, 2725, 2225, note, hit]);
    }
  });

  it("compresses again for other options, or when the cached output has gone", async () => {
    const { store, objects } = memoryStore();
    const { engine, seen } = fakeEngine(async () => outcome());
    const cache = createResultCache(memoryKv().kv, "engine-1", log);
    const run = processor({ store, engine, cache });
    await run(chunkOf([]), item("000000"), live());

    const lossless = create(CompressionOptionsSchema, { target: { goal: { case: "lossless", value: true } } });
    const other = await run(chunkOf([], lossless), item("000001"), live());
    expect(other.cacheHit).toBe(false);
    expect(seen.calls).toBe(2);

    objects.delete("imgc/outputs/t/job1/000000.webp");
    const again = await run(chunkOf([]), item("000000"), live());
    expect(again).toMatchObject({ state: ItemState.DONE, cacheHit: false });
    expect(seen.calls).toBe(3);
  });

  it("keys on the source bytes and options, and on the engine version", () => {
    const cache1 = createResultCache(memoryKv().kv, "engine-1", log);
    const cache2 = createResultCache(memoryKv().kv, "engine-2", log);
    const options = create(CompressionOptionsSchema, { format: ImageFormat.AVIF });
    const key = cache1.keyFor("t", "ab".repeat(32), options);
    expect(key).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
    expect(cache1.keyFor("t", "ab".repeat(32), create(CompressionOptionsSchema, { format: ImageFormat.AVIF }))).toBe(
      key,
    );
    expect(cache1.keyFor("t", "cd".repeat(32), options)).not.toBe(key);
    expect(cache1.keyFor("t", "ab".repeat(32), create(CompressionOptionsSchema))).not.toBe(key);
    expect(cache2.keyFor("t", "ab".repeat(32), options)).not.toBe(key);
    expect(cache1.keyFor("u", "ab".repeat(32), options)).not.toBe(key);
  });
});

describe("processItem for a DETECT chunk", () => {
  const found: DetectOutcome = {
    objects: [{ label: "cup", score: 0.55, sourceBox: { x: 170, y: 10, width: 244, height: 251 } }],
    sourceWidth: 600,
    sourceHeight: 400,
    frames: 1,
    model: "centernet-mobilenetv3-coco",
    inputFormat: ImageFormat.PNG,
  };
  const detectChunk = (items: ChunkItem[]) =>
    create(ChunkSchema, {
      ...chunkOf(items),
      kind: TaskKind.DETECT,
      detection: create(DetectionOptionsSchema, { minScore: 0.3, labels: ["cup"] }),
    });
  function fakeDetector(run: () => Promise<DetectOutcome>) {
    const seen: { options?: unknown } = {};
    const detector: Engine = {
      compress: () => Promise.reject(new Error("a detector does not compress")),
      detect(_input, options) {
        seen.options = options;
        return run();
      },
    };
    return { detector, seen };
  }

  it("detects with the chunk's options and reports the objects, writing nothing", async () => {
    const { store, calls } = memoryStore();
    const { detector, seen } = fakeDetector(async () => found);
    const { engine, seen: compressed } = fakeEngine(async () => outcome());
    const result = await processor({ store, engine, detector })(detectChunk([item()]), item(), live());
    expect(result).toMatchObject({
      itemId: "000000",
      sourceKey: "uploads/t/1/a.jpg",
      state: ItemState.DONE,
      outputKey: "",
      inputFormat: ImageFormat.PNG,
      inputBytes: BigInt(source.length),
      workerId: "w-1",
      note: "",
      detection: {
        objects: [{ label: "cup", score: 0.55, sourceBox: { x: 170, y: 10, width: 244, height: 251 } }],
        sourceWidth: 600,
        sourceHeight: 400,
        model: "centernet-mobilenetv3-coco",
        workerId: "w-1",
        frames: 1,
      },
    });
    expect(result.detection?.durationMs).toBe(result.durationMs);
    expect(seen.options).toMatchObject({ minScore: 0.3, labels: ["cup"] });
    expect(compressed.calls).toBe(0);
    expect(calls.put).toBe(0);
  });

  it("says so when it looked at the first frame of an animation only", async () => {
    const { store } = memoryStore();
    const { detector } = fakeDetector(async () => ({ ...found, frames: 10 }));
    const result = await processor({ store, detector })(detectChunk([item()]), item(), live());
    expect(result.note).toBe("Animated: detection looked at frame 1 of 10");
    expect(result.detection?.frames).toBe(10);
  });

  it("fails an item with the detector's code", async () => {
    const { store } = memoryStore();
    const { detector } = fakeDetector(() =>
      Promise.reject(new ItemError(ErrorCode.CORRUPT_INPUT, "The PNG file is damaged")),
    );
    const result = await processor({ store, detector })(detectChunk([item()]), item(), live());
    expect(result).toMatchObject({
      state: ItemState.FAILED,
      errorCode: ErrorCode.CORRUPT_INPUT,
      errorMessage: "The PNG file is damaged",
    });
    expect(result.detection).toBeUndefined();
  });

  it("fails INTERNAL on a worker that cannot detect, and a compression on one that cannot compress", async () => {
    const { store } = memoryStore();
    const { engine } = fakeEngine(async () => outcome());
    const noDetector = await processor({ store, engine })(detectChunk([item()]), item(), live());
    expect(noDetector).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.INTERNAL });
    expect(noDetector.errorMessage).toBe("This worker does not do detection");
    const { detector } = fakeDetector(async () => found);
    const noEngine = await processor({ store, detector })(chunkOf([item()]), item(), live());
    expect(noEngine).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.INTERNAL });
  });
});
