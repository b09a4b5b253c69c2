/**
 * One item: read the source from S3, compress it, write the output to its deterministic key, and describe the
 * outcome as an ItemResult. A failing item never throws: it becomes a FAILED result with a stable error code.
 * The only thrown error is AbortedError, when the chunk is released (drain timeout) and the item must not be
 * reported at all.
 */
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { AbortedError, keys, type Logger, retry, StorageError, TooLargeError } from "@imgc/common";
import {
  type Chunk,
  type ChunkItem,
  CompressionOptionsSchema,
  DetectionOptionsSchema,
  ErrorCode,
  formatExactBytes,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  TaskKind,
} from "@imgc/proto";
import type { DetectOutcome } from "./detect/detector.js";
import type { CompressOutcome, Engine, EngineLease, Limits } from "./engine.js";
import { ItemError } from "./item-error.js";
import type { CacheEntry, ResultCache } from "./result-cache.js";

/** Object storage as items need it. Errors are `StorageError`s (`TooLargeError` as their cause past maxBytes). */
export interface ObjectStore {
  /** With `etag`, only that version of the object: another fails StorageError `changed`. */
  get(bucket: string, key: string, maxBytes: number, etag?: string): Promise<Buffer>;
  put(bucket: string, key: string, body: Buffer, contentType: string): Promise<void>;
}

export interface ItemProcessorDeps {
  store: ObjectStore;
  /** Compresses COMPRESS chunks' items; a worker that does not compress has none. */
  engine?: Engine;
  /** Detects objects in DETECT chunks' items (an engine pool of detect children); only a detecting worker has one. */
  detector?: Engine;
  cache?: ResultCache;
  limits: Limits;
  workerId: string;
  /** The bucket of items and chunks that name none. */
  defaultBucket: string;
  log: Logger;
  /** How long to keep retrying unreachable storage before the item fails with STORAGE_UNAVAILABLE. */
  storageRetryMs?: number;
}

export type ProcessItem = (chunk: Chunk, item: ChunkItem, signal: AbortSignal) => Promise<ItemResult>;

function tooLarge(err: unknown): TooLargeError | undefined {
  if (TooLargeError.is(err)) return err;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return TooLargeError.is(cause) ? cause : undefined;
}

// ItemResult's structured account of a shrink to fit (the note says it in words).
const shrinkFields = (from: { width: number; height: number } | undefined) =>
  from ? { shrunkToFit: true, shrunkFromWidth: from.width, shrunkFromHeight: from.height } : {};

const isUnavailable = (err: unknown) => StorageError.is(err) && err.kind === "unavailable";

export function createItemProcessor(deps: ItemProcessorDeps): ProcessItem {
  const { limits, store, log } = deps;
  const storageRetryMs = deps.storageRetryMs ?? 30_000;

  function onStorageRetry(what: string) {
    return (err: unknown, attempt: number, delayMs: number) =>
      log.warn({ err: String(err), attempt, delayMs: Math.round(delayMs) }, `${what}: storage unreachable, retrying`);
  }

  async function read(bucket: string, key: string, etag: string, signal: AbortSignal): Promise<Buffer> {
    try {
      return await retry(() => store.get(bucket, key, limits.maxInputBytes, etag || undefined), {
        retryable: isUnavailable,
        budgetMs: storageRetryMs,
        signal,
        onRetry: onStorageRetry(`read ${bucket}/${key}`),
      });
    } catch (err) {
      if (AbortedError.is(err)) throw err;
      if (tooLarge(err)) {
        throw new ItemError(
          ErrorCode.FILE_TOO_LARGE,
          `The source is larger than the limit of ${formatExactBytes(limits.maxInputBytes)}`,
        );
      }
      if (StorageError.isNotFound(err)) {
        throw new ItemError(ErrorCode.SOURCE_NOT_FOUND, `The source object ${bucket}/${key} does not exist`);
      }
      // A presigned slot PUT again after the job was submitted: its bytes are not the ones that were checked.
      if (StorageError.isChanged(err)) {
        throw new ItemError(
          ErrorCode.SOURCE_NOT_FOUND,
          "The source was written again after the job was submitted; upload it to a new slot and submit it again",
        );
      }
      if (isUnavailable(err)) {
        throw new ItemError(
          ErrorCode.STORAGE_UNAVAILABLE,
          `Object storage was unreachable for ${Math.round(storageRetryMs / 1000)} s while reading the source`,
        );
      }
      log.error({ err, bucket, key }, "reading a source failed");
      throw new ItemError(ErrorCode.STORAGE_UNAVAILABLE, "Object storage refused to read the source");
    }
  }

  async function write(bucket: string, key: string, body: Buffer, contentType: string, signal: AbortSignal) {
    try {
      await retry(() => store.put(bucket, key, body, contentType), {
        retryable: isUnavailable,
        budgetMs: storageRetryMs,
        signal,
        onRetry: onStorageRetry(`write ${bucket}/${key}`),
      });
    } catch (err) {
      if (AbortedError.is(err)) throw err;
      if (!isUnavailable(err)) log.error({ err, bucket, key }, "writing an output failed");
      throw new ItemError(
        ErrorCode.STORAGE_UNAVAILABLE,
        isUnavailable(err)
          ? `Object storage was unreachable for ${Math.round(storageRetryMs / 1000)} s while writing the output`
          : "Object storage refused to write the output",
      );
    }
  }

  /** Runs one call of an engine under the per-item timeout. The engine is asked to stop through the signal;
   * should it not, its late answer is ignored (sharp cannot cancel a running libvips operation). */
  async function runEngine<T>(
    engine: Engine | undefined,
    what: "compressing" | "detecting",
    chunk: Chunk,
    signal: AbortSignal,
    call: (engine: Engine | EngineLease, signal: AbortSignal) => Promise<T> | undefined,
  ): Promise<T> {
    const unable = () =>
      new ItemError(
        ErrorCode.INTERNAL,
        `This worker does not do ${what === "detecting" ? "detection" : "compression"}`,
      );
    if (!engine) throw unable();
    // A leased engine keeps the image's clock itself, per attempt in a child that is up: neither a child's start
    // nor the replacement of one that crashed under the image is this image's time. Any other engine is timed here.
    const lease = engine.lease ? await engine.lease(signal) : undefined;
    const timeout = new AbortController();
    const timer = lease ? undefined : setTimeout(() => timeout.abort(), limits.timeoutMs);
    const both = AbortSignal.any([signal, timeout.signal]);
    const stopped = () =>
      signal.aborted
        ? new AbortedError("released")
        : new ItemError(
            ErrorCode.TIMEOUT,
            `${what === "detecting" ? "Detecting objects" : "Compressing"} took longer than the limit of ${limits.timeoutMs} ms`,
          );
    // What the engine threw: its ItemError stands, unless the image was stopped meanwhile.
    const failed = (err: unknown) => {
      if (AbortedError.is(err)) return err;
      if (both.aborted) return stopped();
      if (ItemError.is(err)) return err;
      log.error({ err, job: chunk.jobId, chunk: chunk.index }, `the engine failed unexpectedly while ${what}`);
      return new ItemError(ErrorCode.INTERNAL, `Internal error while ${what}`);
    };
    let onAbort = () => {};
    try {
      return await new Promise<T>((resolve, reject) => {
        onAbort = () => reject(stopped());
        if (both.aborted) return onAbort();
        both.addEventListener("abort", onAbort, { once: true });
        const running = call(lease ?? engine, both);
        if (!running) return reject(unable());
        running.then(resolve, (err) => reject(failed(err)));
      });
    } finally {
      clearTimeout(timer);
      both.removeEventListener("abort", onAbort);
      lease?.release();
    }
  }

  const compress = (input: Buffer, chunk: Chunk, signal: AbortSignal): Promise<CompressOutcome> => {
    const options = chunk.options ?? create(CompressionOptionsSchema);
    return runEngine(deps.engine, "compressing", chunk, signal, (engine, both) =>
      engine.compress(input, options, limits, both),
    );
  };

  const detect = (input: Buffer, chunk: Chunk, signal: AbortSignal): Promise<DetectOutcome> => {
    const options = chunk.detection ?? create(DetectionOptionsSchema);
    return runEngine(deps.detector, "detecting", chunk, signal, (engine, both) =>
      engine.detect?.(input, options, limits, both),
    );
  };

  /** The earlier identical output, copied to this item's key; undefined when there is none to reuse. */
  async function fromCache(entry: CacheEntry, outputBucket: string, outputKey: string, signal: AbortSignal) {
    let data: Buffer;
    try {
      data = await store.get(entry.bucket, entry.key, entry.bytes);
    } catch (err) {
      log.info({ err: String(err), key: entry.key }, "cached output unreadable; compressing");
      return false;
    }
    if (data.length !== entry.bytes) return false;
    if (entry.bucket !== outputBucket || entry.key !== outputKey) {
      await write(outputBucket, outputKey, data, entry.contentType, signal);
    }
    return true;
  }

  return async function processItem(chunk, item, signal) {
    const started = Date.now();
    // What is known of the source so far; a failure reports as much of it as was learned.
    let known: { itemId: string; sourceKey: string; workerId: string; inputBytes: bigint; sourceSha256?: string } = {
      itemId: item.itemId,
      sourceKey: item.key,
      workerId: deps.workerId,
      inputBytes: item.size,
    };
    const bucket = item.bucket || deps.defaultBucket;
    const outputBucket = chunk.outputBucket || deps.defaultBucket;
    try {
      if (item.size > BigInt(limits.maxInputBytes)) {
        throw new ItemError(
          ErrorCode.FILE_TOO_LARGE,
          `The source is ${item.size} bytes, more than the limit of ${formatExactBytes(limits.maxInputBytes)}`,
        );
      }
      const input = await read(bucket, item.key, item.sourceEtag, signal);
      const sourceSha256 = createHash("sha256").update(input).digest("hex");
      known = { ...known, inputBytes: BigInt(input.length), sourceSha256 };
      // Detection writes nothing: its result is the objects found, reported with the item.
      if (chunk.kind === TaskKind.DETECT) {
        const found = await detect(input, chunk, signal);
        const durationMs = Date.now() - started;
        return create(ItemResultSchema, {
          ...known,
          state: ItemState.DONE,
          inputFormat: found.inputFormat,
          note: found.frames > 1 ? `Animated: detection looked at frame 1 of ${found.frames}` : "",
          durationMs,
          detection: {
            objects: found.objects.map(({ label, score, sourceBox }) => ({ label, score, sourceBox })),
            sourceWidth: found.sourceWidth,
            sourceHeight: found.sourceHeight,
            model: found.model,
            workerId: deps.workerId,
            durationMs,
            frames: found.frames,
          },
        });
      }

      const options = chunk.options ?? create(CompressionOptionsSchema);
      const cacheKey = deps.cache?.keyFor(chunk.tenant, sourceSha256, options);
      const cached = cacheKey ? await deps.cache?.get(cacheKey) : undefined;
      if (cached) {
        const outputKey = keys.output(chunk.outputPrefix, item.itemId, cached.extension);
        if (await fromCache(cached, outputBucket, outputKey, signal)) {
          return create(ItemResultSchema, {
            ...known,
            state: cached.kind === "compressed" ? ItemState.DONE : ItemState.KEPT_ORIGINAL,
            outputKey,
            format: cached.format,
            inputFormat: cached.inputFormat,
            outputBytes: BigInt(cached.bytes),
            width: cached.width,
            height: cached.height,
            quality: cached.quality,
            ssim: cached.ssim,
            ...(cached.score === undefined ? {} : { score: cached.score }),
            keptReason: cached.keptReason,
            inputPages: cached.inputPages ?? 0,
            note: cached.note ?? "",
            ...shrinkFields(cached.shrunkFrom),
            cacheHit: true,
            durationMs: Date.now() - started,
          });
        }
      }

      const outcome = await compress(input, chunk, signal);
      const outputKey = keys.output(chunk.outputPrefix, item.itemId, outcome.extension);
      await write(outputBucket, outputKey, outcome.data, outcome.contentType, signal);
      const entry: CacheEntry = {
        bucket: outputBucket,
        key: outputKey,
        bytes: outcome.data.length,
        kind: outcome.kind,
        format: outcome.format,
        inputFormat: outcome.inputFormat,
        extension: outcome.extension,
        contentType: outcome.contentType,
        width: outcome.width,
        height: outcome.height,
        quality: Math.round(outcome.quality),
        ssim: outcome.ssim ?? 0,
        ...(outcome.score === undefined ? {} : { score: outcome.score }),
        keptReason: outcome.keptReason ?? "",
        inputPages: outcome.inputPages ?? 0,
        note: outcome.note ?? "",
        ...(outcome.shrunkFrom ? { shrunkFrom: outcome.shrunkFrom } : {}),
      };
      if (cacheKey) await deps.cache?.put(cacheKey, entry);
      return create(ItemResultSchema, {
        ...known,
        state: outcome.kind === "compressed" ? ItemState.DONE : ItemState.KEPT_ORIGINAL,
        outputKey,
        format: entry.format,
        inputFormat: entry.inputFormat,
        outputBytes: BigInt(entry.bytes),
        width: entry.width,
        height: entry.height,
        quality: entry.quality,
        ssim: entry.ssim,
        ...(entry.score === undefined ? {} : { score: entry.score }),
        keptReason: entry.keptReason,
        inputPages: entry.inputPages ?? 0,
        note: entry.note ?? "",
        ...shrinkFields(entry.shrunkFrom),
        durationMs: Date.now() - started,
      });
    } catch (err) {
      if (AbortedError.is(err) && signal.aborted) throw err;
      const failure = ItemError.is(err) ? err : new ItemError(ErrorCode.INTERNAL, "Internal error while processing");
      if (!ItemError.is(err)) log.error({ err, job: chunk.jobId, item: item.itemId }, "item failed");
      return create(ItemResultSchema, {
        ...known,
        state: ItemState.FAILED,
        errorCode: failure.code,
        errorMessage: failure.message,
        durationMs: Date.now() - started,
      });
    }
  };
}
