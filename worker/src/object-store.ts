/** The cluster's Storage seen as the ObjectStore items use: any bucket, buffers in and out. */
import { classifyStorageError, type Storage } from "@imgc/common";
import type { ObjectStore } from "./process-item.js";

export function objectStoreFrom(storage: Storage): ObjectStore {
  return {
    get: (bucket, key, maxBytes, etag) => storage.getBuffer(key, bucket, maxBytes, etag),
    async put(bucket, key, body, contentType) {
      if (bucket === storage.bucket) return storage.putBuffer(key, body, contentType);
      // Storage.putBuffer writes only to the cluster's bucket; a chunk may name another.
      try {
        await storage.client.putObject(bucket, key, body, body.length, { "Content-Type": contentType });
      } catch (err) {
        throw classifyStorageError(err, `put ${bucket}/${key}`);
      }
    },
  };
}
