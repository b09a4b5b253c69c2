/**
 * URL sources: the coordinator fetches each image URL behind the SSRF guard and stores it under
 * uploads/<tenant>/<job>/ before the job is chunked, so workers only ever read the object store. A URL that is
 * refused or cannot be fetched becomes an item that fails with a code saying why; the rest of the job runs.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { keys, type Storage } from "@imgc/common";
import { ErrorCode, type Manifest } from "@imgc/proto";
import { itemId } from "../ids.js";
import { asFetchError, type FetchError, type GuardedFetch, readBody } from "../net/ssrf-guard.js";
import { ManifestError, parseManifest } from "./manifest.js";
import type { SourceItem } from "./sources.js";

export interface UrlSourceDeps {
  guard: Pick<GuardedFetch, "request">;
  storage: Pick<Storage, "bucket" | "putStream">;
  tenant: string;
  jobId: string;
}

const FAILURE_CODES: Record<FetchError["failure"], ErrorCode> = {
  refused: ErrorCode.FETCH_REFUSED,
  too_large: ErrorCode.FILE_TOO_LARGE,
  timeout: ErrorCode.TIMEOUT,
  http: ErrorCode.SOURCE_NOT_FOUND,
  network: ErrorCode.SOURCE_NOT_FOUND,
  cancelled: ErrorCode.CANCELLED,
};

function nameOf(url: string): string {
  try {
    return new URL(url).pathname.split("/").pop() || "image";
  } catch {
    return "image";
  }
}

export function createUrlSources(deps: UrlSourceDeps) {
  const { guard, storage } = deps;

  return {
    /** The URLs a manifest lists; a manifest URL that is refused or unreadable fails the job as a ManifestError. */
    async manifestUrls(manifest: Manifest, signal?: AbortSignal): Promise<string[]> {
      let text: string;
      if (manifest.content.case === "inline") text = manifest.content.value;
      else if (manifest.content.case === "url") {
        try {
          text = (await readBody(await guard.request(manifest.content.value, signal ? { signal } : {}))).toString(
            "utf8",
          );
        } catch (err) {
          throw new ManifestError(asFetchError(manifest.content.value, err).message);
        }
      } else throw new ManifestError("manifest: expected url or inline");
      return parseManifest(text, manifest.format, manifest.column);
    },

    /** Fetches the image at `url` into the bucket as the item at `position`: the item, failed or not. */
    async fetchImage(url: string, position: number, signal?: AbortSignal): Promise<SourceItem> {
      const key = keys.upload(deps.tenant, deps.jobId, `${itemId(position)}-${nameOf(url)}`);
      // The object store needs the size up front and a server's Content-Length may lie: spool, counting.
      const dir = await mkdtemp(join(tmpdir(), "imgc-fetch-"));
      try {
        const file = join(dir, "body");
        let size = 0;
        let contentType: string;
        try {
          const response = await guard.request(url, signal ? { signal } : {});
          contentType = response.contentType;
          const count = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              size += chunk.length;
              callback(null, chunk);
            },
          });
          await pipeline(response.body, count, createWriteStream(file));
        } catch (err) {
          const failure = asFetchError(url, err);
          return {
            bucket: storage.bucket,
            key: url,
            size: 0,
            missing: true,
            failure: { code: FAILURE_CODES[failure.failure], message: failure.message },
          };
        }
        await storage.putStream(key, createReadStream(file), size, contentType);
        return { bucket: storage.bucket, key, size, missing: false };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export type UrlSources = ReturnType<typeof createUrlSources>;
