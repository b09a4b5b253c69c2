/**
 * Uploads files straight to object storage: CreateUploads hands out presigned PUT slots (asked for in batches,
 * as the queue reaches them, so a slot is fresh when used), then a few PUTs run in parallel over XHR, which,
 * unlike fetch, reports upload progress. Network errors and 5xx answers are retried; an expired slot is
 * replaced once.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { sleep } from "@imgc/common/retry";
import type { UploadSlot } from "@imgc/proto";
import type { JobClient } from "./api.js";
import { messageOf } from "./error-message.js";

export class UploadError extends Error {
  override name = "UploadError";
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly expired = false,
  ) {
    super(message);
  }
}

export type PutFile = (
  url: string,
  body: Blob,
  contentType: string,
  onProgress: (loaded: number) => void,
  signal: AbortSignal,
) => Promise<void>;

export const putWithXhr: PutFile = (url, body, contentType, onProgress, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("content-type", contentType);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      // S3 answers 403 to a presigned URL past its expiry.
      const retryable = xhr.status >= 500 || xhr.status === 429;
      reject(new UploadError(`Storage refused the upload (HTTP ${xhr.status}).`, retryable, xhr.status === 403));
    };
    xhr.onerror = () => reject(new UploadError("The upload was interrupted (network error).", true));
    xhr.onabort = () => reject(signal.reason);
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(body);
  });

export interface UploadItem {
  file: File;
  contentType: string;
}

export interface UploadEvents {
  progress(index: number, loaded: number): void;
  uploaded(index: number, key: string): void;
  failed(index: number, message: string): void;
}

export interface UploaderDeps {
  jobs: JobClient;
  put?: PutFile;
  /** PUTs in flight at once. */
  concurrency?: number;
  /** Slots asked for per CreateUploads call. */
  slotBatch?: number;
  /** Further tries of a PUT that failed in a retryable way. */
  retries?: number;
  /** The wait before retry n (0-based). */
  backoffMs?: (attempt: number) => number;
}

/** Uploads every file; resolves with each file's object key, or undefined where that file failed. */
export async function uploadFiles(
  deps: UploaderDeps,
  items: readonly UploadItem[],
  events: UploadEvents,
  signal: AbortSignal,
): Promise<(string | undefined)[]> {
  const put = deps.put ?? putWithXhr;
  const concurrency = deps.concurrency ?? 4;
  const slotBatch = deps.slotBatch ?? 50;
  const retries = deps.retries ?? 3;
  const backoffMs = deps.backoffMs ?? ((attempt: number) => 500 * 2 ** attempt);
  const keys: (string | undefined)[] = items.map(() => undefined);
  const batches = new Map<number, Promise<(UploadSlot | Error)[]>>();

  const describe = (item: UploadItem) => ({
    name: item.file.name,
    size: BigInt(item.file.size),
    contentType: item.contentType,
  });

  async function requestSlots(from: number, to: number): Promise<(UploadSlot | Error)[]> {
    const batch = items.slice(from, to);
    try {
      const res = await deps.jobs.createUploads({ files: batch.map(describe) }, { signal });
      return batch.map((_, i) => res.slots[i] ?? new Error("The gateway returned too few upload slots."));
    } catch (err) {
      // One refused file (too large for the gateway, say) must not sink the batch: ask again file by file.
      if (batch.length > 1 && ConnectError.from(err).code === Code.InvalidArgument) {
        return Promise.all(
          batch.map((_, i) => requestSlots(from + i, from + i + 1).then((s) => s[0] as UploadSlot | Error)),
        );
      }
      if (signal.aborted) throw err;
      return batch.map(() => new Error(messageOf(err)));
    }
  }

  function slotFor(index: number): Promise<UploadSlot | Error> {
    const batch = Math.floor(index / slotBatch);
    let slots = batches.get(batch);
    if (!slots) {
      slots = requestSlots(batch * slotBatch, Math.min(items.length, (batch + 1) * slotBatch));
      batches.set(batch, slots);
    }
    return slots.then((s) => s[index - batch * slotBatch] ?? new Error("No upload slot."));
  }

  const expiresSoon = (slot: UploadSlot) =>
    slot.expiresAt !== undefined && Number(slot.expiresAt.seconds) * 1000 < Date.now() + 30_000;

  async function uploadOne(index: number): Promise<void> {
    const item = items[index] as UploadItem;
    let slot = await slotFor(index);
    let replaced = false;
    for (let attempt = 0; ; attempt++) {
      if (!(slot instanceof Error) && expiresSoon(slot) && !replaced) {
        slot = (await requestSlots(index, index + 1))[0] ?? new Error("No upload slot.");
        replaced = true;
      }
      if (slot instanceof Error) return events.failed(index, slot.message);
      try {
        await put(slot.url, item.file, item.contentType, (loaded) => events.progress(index, loaded), signal);
        keys[index] = slot.key;
        return events.uploaded(index, slot.key);
      } catch (err) {
        if (signal.aborted) throw err;
        const error = err instanceof UploadError ? err : new UploadError(messageOf(err), false);
        if (error.expired && !replaced) {
          slot = (await requestSlots(index, index + 1))[0] ?? new Error("No upload slot.");
          replaced = true;
          continue;
        }
        if (!error.retryable || attempt >= retries) return events.failed(index, error.message);
        events.progress(index, 0);
        await sleep(backoffMs(attempt), signal);
      }
    }
  }

  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length && !signal.aborted) await uploadOne(next++);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return keys;
}
