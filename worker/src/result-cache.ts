/**
 * The content-addressed result cache: the same source bytes compressed with the same options give the same
 * output, so a second identical item copies the first one's output instead of compressing again.
 *
 * Key: sha256(source) + a hash of (engine version, tenant, options as protobuf binary, which is deterministic:
 * fields in number order). The tenant is part of the key so that a hit never tells one tenant that another
 * compressed the same bytes (a fast cacheHit would), and never copies another tenant's output. Value: where the earlier output lies and what it was. The entry is only a hint: a hit
 * whose object has gone (or changed size) counts as a miss, and any failure of the cache counts as a miss, so
 * the cache can never fail an item.
 */
import { createHash } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import type { Logger } from "@imgc/common";
import { type CompressionOptions, CompressionOptionsSchema, type ImageFormat } from "@imgc/proto";
import { type JetStreamClient, type KV, StorageType } from "nats";

export const CACHE_BUCKET = "imgc-cache";

export interface CacheEntry {
  bucket: string;
  key: string;
  bytes: number;
  kind: "compressed" | "kept-original";
  format: ImageFormat;
  inputFormat: ImageFormat;
  extension: string;
  contentType: string;
  width: number;
  height: number;
  quality: number;
  ssim: number;
  /** The SSIMULACRA 2 score, where the engine measured one. */
  score?: number;
  keptReason: string;
  /** See ItemResult.input_pages and .note; absent in entries written before they existed. */
  inputPages?: number;
  note?: string;
  /** See ItemResult.shrunk_from_width/height: the size before shrinking to fit; absent when not shrunk. */
  shrunkFrom?: { width: number; height: number };
}

export interface ResultCache {
  keyFor(tenant: string, sourceSha256: string, options: CompressionOptions): string;
  get(key: string): Promise<CacheEntry | undefined>;
  put(key: string, entry: CacheEntry): Promise<void>;
}

/** The slice of a NATS KV bucket the cache uses. */
export interface CacheStore {
  get(key: string): Promise<{ value: Uint8Array; operation: string } | null>;
  put(key: string, value: Uint8Array): Promise<number>;
}

/** Opens (creating when missing) the cache's KV bucket. Entries expire after `maxAgeMs`. */
export function openCacheBucket(js: JetStreamClient, maxAgeMs = 7 * 24 * 3600_000): Promise<KV> {
  return js.views.kv(CACHE_BUCKET, { history: 1, ttl: maxAgeMs, storage: StorageType.File });
}

export function createResultCache(store: CacheStore, engineVersion: string, log: Logger): ResultCache {
  return {
    keyFor(tenant, sourceSha256, options) {
      const optionsHash = createHash("sha256")
        .update(engineVersion)
        .update("\0")
        .update(tenant)
        .update("\0")
        .update(toBinary(CompressionOptionsSchema, options))
        .digest("hex")
        .slice(0, 32);
      return `${sourceSha256}-${optionsHash}`;
    },
    async get(key) {
      try {
        const entry = await store.get(key);
        if (entry?.operation !== "PUT") return undefined;
        return JSON.parse(new TextDecoder().decode(entry.value)) as CacheEntry;
      } catch (err) {
        log.warn({ err, key }, "result cache lookup failed; compressing");
        return undefined;
      }
    },
    async put(key, entry) {
      try {
        await store.put(key, new TextEncoder().encode(JSON.stringify(entry)));
      } catch (err) {
        log.warn({ err, key }, "result cache write failed");
      }
    },
  };
}
