/**
 * Source expansion: a job's sources become its items, in order. Upload keys are checked one by one (a missing
 * one becomes an item that fails SOURCE_NOT_FOUND rather than failing the whole job); prefixes are listed as a
 * stream, so thousands of objects never sit in one response.
 */
import { type Storage, StorageError } from "@imgc/common";
import type { Source } from "@imgc/proto";

export interface SourceItem {
  bucket: string;
  key: string;
  size: number;
  /** The object does not exist: the item fails SOURCE_NOT_FOUND without reaching a worker. */
  missing: boolean;
}

export type SourceStorage = Pick<Storage, "bucket" | "stat" | "list">;

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

export async function expandSources(
  sources: readonly Source[],
  storage: SourceStorage,
  maxItems: number,
): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  const uploads: SourceItem[] = [];
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
        add({ bucket, key: object.key, size: object.size, missing: false });
      }
    }
  }
  await statUploads(uploads, storage);
  if (items.length === 0) throw new EmptySourceError("the sources hold no objects");
  return items;
}

async function statUploads(unsized: SourceItem[], storage: SourceStorage): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < unsized.length) {
      const item = unsized[next++] as SourceItem;
      try {
        item.size = (await storage.stat(item.key, item.bucket)).size;
      } catch (err) {
        if (!StorageError.isNotFound(err)) throw err;
        item.missing = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STAT_CONCURRENCY, unsized.length) }, worker));
}
