/** An in-memory object store with the slice of the Storage API the coordinator uses (unit tests only). */
import { createHash } from "node:crypto";
import { type ObjectInfo, readAll, SIGNATURE_BYTES, StorageError } from "@imgc/common";
import type { CoordinatorStorage } from "../coordinator.js";

/** S3's ETag of a single-part object: the MD5 of its bytes. */
const etagOf = (body: Buffer) => createHash("md5").update(body).digest("hex");

export function createMemoryStorage(bucket = "imgc") {
  const objects = new Map<string, Buffer>();
  const id = (inBucket: string, key: string) => `${inBucket}/${key}`;
  const storage: CoordinatorStorage & {
    objects: Map<string, Buffer>;
    put(key: string, size: number, inBucket?: string): void;
  } = {
    bucket,
    objects,
    put(key, size, inBucket = bucket) {
      objects.set(id(inBucket, key), Buffer.alloc(size));
    },
    async stat(key, fromBucket = bucket) {
      const body = objects.get(id(fromBucket, key));
      if (!body) throw new StorageError(`stat ${fromBucket}/${key}: not found`, "not-found");
      return { key, size: body.length, etag: etagOf(body) };
    },
    async getHead(key, fromBucket = bucket, bytes = SIGNATURE_BYTES) {
      const body = objects.get(id(fromBucket, key));
      if (!body) throw new StorageError(`get ${fromBucket}/${key}: not found`, "not-found");
      return body.subarray(0, bytes);
    },
    async *list(prefix, fromBucket = bucket): AsyncGenerator<ObjectInfo> {
      const start = id(fromBucket, prefix);
      for (const [name, body] of [...objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (name.startsWith(start)) {
          yield { key: name.slice(fromBucket.length + 1), size: body.length, etag: etagOf(body) };
        }
      }
    },
    async remove(key, fromBucket = bucket) {
      objects.delete(id(fromBucket, key));
    },
    async putBuffer(key, body) {
      objects.set(id(bucket, key), body);
    },
    async putStream(key, body) {
      objects.set(id(bucket, key), await readAll(body));
    },
    async presignGet(key, expirySeconds, downloadName) {
      // The name goes where S3's presigned URL carries it, so a test can read what a browser would save.
      const disposition = downloadName
        ? `&response-content-disposition=${encodeURIComponent(`attachment; filename="${downloadName}"`)}`
        : "";
      return `http://s3.test/${bucket}/${key}?expires=${expirySeconds}${disposition}`;
    },
    async presignPut(key, expirySeconds) {
      return `http://s3.test/${bucket}/${key}?put&expires=${expirySeconds}`;
    },
  };
  return storage;
}

export type MemoryStorage = ReturnType<typeof createMemoryStorage>;
