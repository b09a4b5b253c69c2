/**
 * Source expansion: a job's sources become its items, in order. Upload keys are checked one by one (a missing
 * one becomes an item that fails SOURCE_NOT_FOUND rather than failing the whole job); prefixes are listed as a
 * stream, so thousands of objects never sit in one response; URLs, given one by one or in manifests, are
 * fetched into the bucket (a refused or failed one fails its item only).
 */
import { declaredSize, imageSignature, pool, READABLE_FORMATS, type Storage, StorageError } from "@imgc/common";
import { ErrorCode, type Source } from "@imgc/proto";
import { ManifestError } from "./manifest.js";
import type { UrlSources } from "./url-sources.js";

export interface SourceItem {
  bucket: string;
  key: string;
  size: number;
  /** The object does not exist: the item fails without reaching a worker (SOURCE_NOT_FOUND, or `failure`). */
  missing: boolean;
  /** Why a missing item failed, when it is not simply a missing object (a URL refused or not fetched). */
  failure?: { code: ErrorCode; message: string };
  /** The URL the item is fetched from, before it is. */
  url?: string;
  /** An upload slot's ETag when it was checked: the worker reads only that version (ChunkItem.source_etag). */
  etag?: string;
}

export type SourceStorage = Pick<Storage, "bucket" | "stat" | "list" | "getHead">;

export class TooManyItemsError extends Error {
  override name = "TooManyItemsError";
  constructor(readonly limit: number) {
    super(`the job has more than ${limit} images`);
  }
}

export class EmptySourceError extends Error {
  override name = "EmptySourceError";
}

const STAT_CONCURRENCY = 16;
const FETCH_CONCURRENCY = 8;

export async function expandSources(
  sources: readonly Source[],
  storage: SourceStorage,
  maxItems: number,
  urls?: UrlSources,
  signal?: AbortSignal,
): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  const uploads: SourceItem[] = [];
  const fetched: number[] = [];
  const addUrl = (url: string) => {
    add({ bucket: storage.bucket, key: url, size: 0, missing: false, url });
    fetched.push(items.length - 1);
  };
  const add = (item: SourceItem) => {
    if (items.length >= maxItems) throw new TooManyItemsError(maxItems);
    items.push(item);
    return item;
  };
  for (const source of sources) {
    if (source.kind.case === "uploadKey") {
      uploads.push(add({ bucket: storage.bucket, key: source.kind.value, size: 0, missing: false }));
    } else if (source.kind.case === "s3Prefix") {
      const bucket = source.kind.value.bucket || storage.bucket;
      for await (const object of storage.list(source.kind.value.prefix, bucket)) {
        // Zero-byte "folder" markers some tools create are not images.
        if (object.key.endsWith("/") && object.size === 0) continue;
        add(checkDeclared({ bucket, key: object.key, size: object.size, missing: false }));
      }
    } else if (source.kind.case === "url" || source.kind.case === "manifest") {
      if (!urls) throw new ManifestError("URL sources are not served here");
      if (source.kind.case === "url") addUrl(source.kind.value);
      else for (const url of await urls.manifestUrls(source.kind.value, signal)) addUrl(url);
    }
  }
  await statUploads(uploads, storage);
  if (urls) await fetchUrls(items, fetched, urls, signal);
  if (items.length === 0) throw new EmptySourceError("the sources hold no objects");
  return items;
}

/**
 * An upload whose stored size is not the size its slot declared fails FILE_TOO_LARGE instead of becoming a
 * source: a presigned PUT cannot hold an uploader to its declared size (or to the upload limit checked on it),
 * so this is where a slot abused to store something else, or something bigger, is stopped.
 */
function checkDeclared(item: SourceItem): SourceItem {
  const declared = declaredSize(item.key);
  if (declared !== undefined && item.size !== declared) {
    item.missing = true;
    item.failure = {
      code: ErrorCode.FILE_TOO_LARGE,
      message: `the upload is ${item.size} bytes, not the ${declared} bytes its upload slot declared`,
    };
  }
  return item;
}

/**
 * An upload whose first bytes are no image format the cluster reads fails UNSUPPORTED_FORMAT instead of
 * becoming a source: a presigned slot takes any bytes under any content type, so an upload is judged by its
 * signature, as the worker will judge it. The item's ETag pins the bytes judged (ChunkItem.source_etag).
 */
function checkSignature(item: SourceItem, head: Buffer): void {
  const format = imageSignature(head);
  if (format !== undefined && format !== "heif") return;
  item.missing = true;
  item.failure = {
    code: ErrorCode.UNSUPPORTED_FORMAT,
    message:
      format === "heif"
        ? "the upload is a HEIC/HEIF image, which the cluster cannot read (only AVIF in that container)"
        : `the upload is not an image the cluster reads: its first bytes are none of ${READABLE_FORMATS}`,
  };
}

async function statUploads(unsized: SourceItem[], storage: SourceStorage): Promise<void> {
  await pool(unsized, STAT_CONCURRENCY, async (item) => {
    try {
      const info = await storage.stat(item.key, item.bucket);
      item.size = info.size;
      checkDeclared(item);
      // An upload slot's object is judged by its bytes too, and pinned to the version judged. Other keys
      // (an internal service's, which may rewrite them in place and retry) are the worker's to judge.
      if (!item.missing && item.size > 0 && declaredSize(item.key) !== undefined) {
        checkSignature(item, await storage.getHead(item.key, item.bucket));
        if (info.etag) item.etag = info.etag;
      }
    } catch (err) {
      if (!StorageError.isNotFound(err)) throw err;
      item.missing = true;
    }
  });
}

/** The caller of SubmitJob went away: the job is not created, and no further URL is fetched for it. */
export class SubmitCancelledError extends Error {
  override name = "SubmitCancelledError";
}

async function fetchUrls(
  items: SourceItem[],
  positions: readonly number[],
  urls: UrlSources,
  signal: AbortSignal | undefined,
): Promise<void> {
  await pool(positions, FETCH_CONCURRENCY, async (position) => {
    if (signal?.aborted) throw new SubmitCancelledError("the caller went away before the job was created");
    const item = items[position] as SourceItem;
    items[position] = await urls.fetchImage(item.url ?? item.key, position, signal);
  });
}
