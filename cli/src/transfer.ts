/** Moving bytes: a local file up through UploadImage, and an output down from its presigned URL. */
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream } from "node:stream/web";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { sleep } from "@imgc/common/retry";
import { contentTypeOf, type JobService, type UploadImageRequestSchema } from "@imgc/proto";
import { RATE_LIMIT_RETRIES, retryRateLimited } from "./rate-limit.js";

/** 1 MiB per message, as the contract suggests. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Streams `path` to the gateway: a header message, then the file in 1 MiB pieces, each read from disk only
 * when the transport asks for the next one. `onRead` hears of every piece as it is read. Refused by the
 * gateway's rate limit (before any byte is taken), the upload starts over after the asked wait.
 */
export async function uploadFile(
  jobs: Client<typeof JobService>,
  path: string,
  onRead: (bytes: number) => void = () => {},
): Promise<{ key: string; size: number }> {
  const { size } = await stat(path);
  const name = basename(path);
  async function* messages(): AsyncGenerator<MessageInitShape<typeof UploadImageRequestSchema>> {
    yield { part: { case: "header", value: { name, size: BigInt(size), contentType: contentTypeOf(path) } } };
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
      onRead((chunk as Buffer).length);
      yield { part: { case: "chunk", value: chunk as Buffer } };
    }
  }
  const response = await retryRateLimited(() => jobs.uploadImage(messages()));
  return { key: response.key, size: Number(response.size) };
}

/**
 * Downloads `url` to `dest` through a temporary file, so a failed download leaves no partial output. A
 * gateway route's JSON error ({code, message}) becomes the error's message; a 429 is retried after its
 * Retry-After.
 */
export async function download(
  fetchFn: typeof fetch,
  url: string,
  dest: string,
  headers: Record<string, string> = {},
): Promise<number> {
  let response = await fetchFn(url, { headers });
  for (let retries = 0; response.status === 429 && retries < RATE_LIMIT_RETRIES; retries++) {
    await response.body?.cancel();
    const seconds = Number(response.headers.get("retry-after"));
    await sleep((Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000);
    response = await fetchFn(url, { headers });
  }
  if (!response.ok || response.body === null) {
    const body = await response.text().catch(() => "");
    let reason = `HTTP ${response.status}`;
    try {
      const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
      if (typeof parsed.code === "string" && typeof parsed.message === "string") {
        reason = `${parsed.code}: ${parsed.message}`;
      }
    } catch {}
    throw new Error(`download failed: ${reason}`);
  }
  const partial = `${dest}.part`;
  try {
    await pipeline(Readable.fromWeb(response.body as ReadableStream<Uint8Array>), createWriteStream(partial));
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return (await stat(dest)).size;
}
