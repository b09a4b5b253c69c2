/**
 * Object storage over the S3 protocol (MinIO in production, the project's s3rver locally and in tests).
 *
 * Streams go up through a presigned PUT with a Content-Length, so no process ever holds a whole upload in
 * memory and no multipart upload is needed (s3rver lacks ListMultipartUploads, which minio-js uses for
 * multipart). The price: a single object is at most 5 GiB, far above any image limit we accept.
 */
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { Client } from "minio";
import { SIGNATURE_BYTES } from "./image-signature.js";
import { listObjectsQuery, parseListObjects } from "./s3-list.js";
import { createPresigner } from "./s3-presign.js";

export interface StorageConfig {
  s3Endpoint: string;
  s3PublicEndpoint: string;
  s3AccessKey: string;
  s3SecretKey: string;
  s3Region: string;
  s3Bucket: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** The object's ETag, without quotes: it changes whenever the object is written again. */
  etag?: string;
}

/** A page of 1000 keys of at most 1 KiB each is under 2 MiB: anything far bigger is not a listing. */
const LIST_PAGE_MAX_BYTES = 16 * 1024 * 1024;

const unquoted = (etag: string) => etag.replace(/^"|"$/g, "");

export class StorageError extends Error {
  override name = "StorageError";
  constructor(
    message: string,
    /** `changed`: the object is not the one a read asked for (its ETag differs). */
    readonly kind: "not-found" | "unavailable" | "rejected" | "changed",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
  static is(err: unknown): err is StorageError {
    return err instanceof StorageError;
  }

  static isNotFound(err: unknown): boolean {
    return err instanceof StorageError && err.kind === "not-found";
  }
  static isChanged(err: unknown): boolean {
    return err instanceof StorageError && err.kind === "changed";
  }
}

/** minio-js's client for `endpoint` (an IPv6 host without its brackets, which minio-js refuses). */
export function clientFor(endpoint: string, config: StorageConfig): Client {
  const url = new URL(endpoint);
  return new Client({
    endPoint: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80,
    useSSL: url.protocol === "https:",
    accessKey: config.s3AccessKey,
    secretKey: config.s3SecretKey,
    // A fixed region keeps presigning local (no GetBucketLocation round trip).
    region: config.s3Region,
    pathStyle: true,
  });
}

/** Maps a minio-js / network error onto the three kinds callers act on. */
export function classifyStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: string }).code ?? "";
  if (code === "NoSuchKey" || code === "NotFound" || code === "NoSuchBucket") {
    return new StorageError(`${what}: not found`, "not-found", { cause: err });
  }
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|UND_ERR_SOCKET)$/.test(code)) {
    return new StorageError(`${what}: storage unreachable (${code})`, "unavailable", { cause: err });
  }
  const status = (err as { statusCode?: number }).statusCode ?? 0;
  if (status >= 500) return new StorageError(`${what}: storage answered ${status}`, "unavailable", { cause: err });
  return new StorageError(`${what}: ${(err as Error).message ?? String(err)}`, "rejected", { cause: err });
}

export function createStorage(config: StorageConfig) {
  const client = clientFor(config.s3Endpoint, config);
  const bucket = config.s3Bucket;
  const signing = { accessKey: config.s3AccessKey, secretKey: config.s3SecretKey, region: config.s3Region, bucket };
  const presign = createPresigner({ ...signing, endpoint: config.s3Endpoint });
  // Links handed to callers point where they can reach the store.
  const presignPublic = config.s3PublicEndpoint
    ? createPresigner({ ...signing, endpoint: config.s3PublicEndpoint })
    : presign;

  async function guard<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw classifyStorageError(err, what);
    }
  }

  return {
    bucket,
    client,

    async ensureBucket(): Promise<void> {
      await guard(`bucket ${bucket}`, async () => {
        if (!(await client.bucketExists(bucket))) await client.makeBucket(bucket, config.s3Region);
      });
    },

    async ping(): Promise<void> {
      await guard(`bucket ${bucket}`, async () => {
        await client.bucketExists(bucket);
      });
    },

    /**
     * A lifecycle rule (id UPLOADS_RULE_ID) that expires objects under `prefix` `days` after they were written; 0
     * removes it. The bucket's other rules are kept. Rejects where the store has no lifecycle rules (s3rver).
     */
    async expireAfter(prefix: string, days: number): Promise<void> {
      await guard(`lifecycle of bucket ${bucket}`, async () => {
        const current = await client.getBucketLifecycle(bucket).catch((err: { code?: string }) => {
          if (err.code === "NoSuchLifecycleConfiguration") return null;
          throw err;
        });
        const rules = (current?.Rule ?? []).filter((rule) => rule.ID !== UPLOADS_RULE_ID);
        if (days > 0) {
          rules.push({
            ID: UPLOADS_RULE_ID,
            Status: "Enabled",
            Filter: { Prefix: prefix },
            Expiration: { Days: days },
          });
        }
        await (rules.length > 0
          ? client.setBucketLifecycle(bucket, { Rule: rules })
          : client.removeBucketLifecycle(bucket));
      });
    },

    async putBuffer(key: string, body: Buffer, contentType: string): Promise<void> {
      await guard(`put ${key}`, () =>
        client.putObject(bucket, key, body, body.length, { "Content-Type": contentType }),
      );
    },

    /** Streams `body` into `key`; `size` must be exact. Rejects if the stream ends early or runs over. */
    async putStream(key: string, body: Readable, size: number, contentType: string): Promise<void> {
      const url = new URL(presign({ method: "PUT", key, expirySeconds: 300 }));
      const transport = url.protocol === "https:" ? https : http;
      await guard(
        `put ${key}`,
        () =>
          new Promise<void>((resolve, reject) => {
            const req = transport.request(url, {
              method: "PUT",
              headers: { "content-length": String(size), "content-type": contentType },
            });
            req.on("response", (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (chunk: Buffer) => chunks.push(chunk));
              res.on("end", () => {
                if (res.statusCode && res.statusCode < 300) return resolve();
                const error = Object.assign(
                  new Error(`PUT ${key} answered ${res.statusCode}: ${Buffer.concat(chunks)}`),
                  {
                    statusCode: res.statusCode,
                  },
                );
                reject(error);
              });
            });
            req.on("error", reject);
            body.on("error", (err) => {
              req.destroy(err);
              reject(err);
            });
            body.pipe(req);
          }),
      );
    },

    async getStream(key: string, fromBucket = bucket): Promise<Readable> {
      return guard(`get ${fromBucket}/${key}`, () => client.getObject(fromBucket, key));
    },

    /**
     * The object's bytes, failing fast past `maxBytes`. With `etag`, only the object that had that ETag: one
     * written again since (another PUT to a presigned slot) fails StorageError `changed` before it is read.
     */
    async getBuffer(
      key: string,
      fromBucket = bucket,
      maxBytes = Number.POSITIVE_INFINITY,
      etag?: string,
    ): Promise<Buffer> {
      const stream = await this.getStream(key, fromBucket);
      const served = (stream as Readable & { headers?: Record<string, unknown> }).headers?.etag;
      if (etag && unquoted(String(served ?? "")) !== unquoted(etag)) {
        stream.destroy();
        throw new StorageError(`get ${fromBucket}/${key}: the object changed since it was checked`, "changed");
      }
      return guard(`get ${fromBucket}/${key}`, () => readAll(stream, maxBytes));
    },

    /** The object's first `bytes` bytes (all of it when shorter): enough to tell its format (image-signature.ts). */
    async getHead(key: string, fromBucket = bucket, bytes = SIGNATURE_BYTES): Promise<Buffer> {
      return guard(`get ${fromBucket}/${key}`, async () =>
        readAll(await client.getPartialObject(fromBucket, key, 0, bytes), bytes),
      );
    },

    async stat(key: string, fromBucket = bucket): Promise<ObjectInfo> {
      const info = await guard(`stat ${fromBucket}/${key}`, () => client.statObject(fromBucket, key));
      return { key, size: info.size, ...(info.etag ? { etag: unquoted(info.etag) } : {}) };
    },

    async remove(key: string, fromBucket = bucket): Promise<void> {
      await guard(`remove ${fromBucket}/${key}`, () => client.removeObject(fromBucket, key));
    },

    /**
     * Every object under `prefix`, as the server lists them (a stream: thousands of keys are fine).
     * ListObjects V1 (marker pagination), not V2: s3rver answers 500 to V2's continuation past 1000 keys,
     * and MinIO and S3 serve both. Each page is read by s3-list.ts, not by the minio client's XML parser.
     */
    async *list(prefix: string, fromBucket = bucket): AsyncGenerator<ObjectInfo> {
      let marker: string | undefined;
      do {
        const query = listObjectsQuery(prefix, marker);
        const page = await guard(`list ${fromBucket}/${prefix}`, async () => {
          const response = await client.makeRequestAsync({ method: "GET", bucketName: fromBucket, query });
          return parseListObjects((await readAll(response, LIST_PAGE_MAX_BYTES)).toString("utf8"));
        });
        for (const object of page.objects) {
          yield { key: object.key, size: object.size, ...(object.etag ? { etag: unquoted(object.etag) } : {}) };
        }
        marker = page.next;
      } while (marker !== undefined);
    },

    async presignPut(key: string, expirySeconds: number): Promise<string> {
      return presignPublic({ method: "PUT", key, expirySeconds });
    },

    async presignGet(key: string, expirySeconds: number, downloadName?: string): Promise<string> {
      const params = downloadName ? { "response-content-disposition": `attachment; filename="${downloadName}"` } : {};
      return presignPublic({ method: "GET", key, expirySeconds, params });
    },
  };
}

export type Storage = ReturnType<typeof createStorage>;

/** The id of the lifecycle rule imgc keeps on the uploads/ prefix (see `expireAfter`). */
export const UPLOADS_RULE_ID = "imgc-uploads-retention";

export class TooLargeError extends Error {
  override name = "TooLargeError";
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
  }
  static is(err: unknown): err is TooLargeError {
    return err instanceof TooLargeError;
  }
}

/** Reads a stream into memory, failing fast (and destroying the stream) once it exceeds `maxBytes`. */
export async function readAll(stream: Readable, maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      stream.destroy();
      throw new TooLargeError(maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** S3's limit on an object key, in bytes of UTF-8. A longer key is the caller's mistake, not the store's refusal. */
export const MAX_KEY_BYTES = 1024;

/** Object keys. Deterministic output keys make a retried item overwrite, never duplicate, its output. */
export const keys = {
  upload(tenant: string, id: string, name: string): string {
    return `${keys.uploadPrefix(tenant)}${id}/${safeName(name)}`;
  },
  /** Where a tenant's uploads live: every key `upload` makes for it starts so. */
  uploadPrefix(tenant: string): string {
    return `uploads/${tenant}/`;
  },
  outputPrefix(tenant: string, jobId: string): string {
    return `outputs/${tenant}/${jobId}/`;
  },
  output(prefix: string, itemId: string, extension: string): string {
    return `${prefix}${itemId}.${extension}`;
  },
  report(tenant: string, jobId: string, extension: "json" | "csv"): string {
    return `reports/${tenant}/${jobId}.${extension}`;
  },
  /**
   * An upload id that names the size its uploader declared, `<random>.<bytes>`. A presigned PUT cannot hold
   * the uploader to a size, so the coordinator compares the stored object against this before the key may
   * become a source (`declaredSize`): a slot declared as 10 bytes that took 70 MiB is refused there.
   */
  uploadId(random: string, size: number): string {
    return `${random}.${size}`;
  },
};

/** The size an upload key's id declares (see `keys.uploadId`); undefined for keys that declare none. */
export function declaredSize(key: string): number | undefined {
  const match = /^uploads\/[^/]+\/[A-Za-z0-9_-]+\.(\d{1,15})\/[^/]+$/.exec(key);
  return match ? Number(match[1]) : undefined;
}

/** A file name reduced to characters that are safe in an object key and a URL path segment. */
export function safeName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const cleaned = base
    .normalize("NFKC")
    .replace(/[^\w.-]+/g, "_")
    .slice(-120);
  // Leading dots go (a hidden file, or "..", a path step), but not the extension they start: "..png" is
  // "image.png", never "png", which no reader would take for a PNG.
  const visible = cleaned.replace(/^\.+/, "");
  if (visible === "") return "image";
  return /^\.+[^.]+$/.test(cleaned) ? `image.${visible}` : visible;
}
