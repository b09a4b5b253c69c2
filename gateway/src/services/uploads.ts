/**
 * Uploads into object storage, shared by the UploadImage RPC, CreateUploads and `PUT /v1/uploads/:name`.
 *
 * Bytes are never gathered in memory: they flow from the caller's stream through a meter into a presigned
 * PUT whose Content-Length is the declared size, pulled only as fast as S3 takes them.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { keys, type Logger, quoted, type Storage, StorageError } from "@imgc/common";
import { formatExactBytes, type UploadSlot, UploadSlotSchema } from "@imgc/proto";

/** The part of the storage client uploads need (unit tests fake it). */
export type UploadStorage = Pick<Storage, "putStream" | "presignPut">;

export interface UploadsDeps {
  storage: UploadStorage;
  maxUploadBytes: number;
  log: Logger;
  /** The most time one upload may take to stream in; a slower one is cut off (DeadlineExceeded). */
  timeoutMs?: number;
  /** The random part of upload ids (the folder under uploads/<tenant>/, which adds the declared size). */
  newId?: () => string;
}

export interface UploadHeader {
  name: string;
  /** The exact size in bytes; the stream must carry exactly this many. */
  size: number;
  contentType: string;
}

/** The longest file name an upload may carry (the stored key keeps its last 120 safe characters). */
export const MAX_NAME_CHARS = 255;

/** A file with no bytes: the same words whether its size was declared (PUT, gRPC) or counted (multipart). */
export function emptyFile(name: string): ConnectError {
  return new ConnectError(`${quoted(name)} is empty`, Code.InvalidArgument);
}

/** How long a presigned upload slot stays valid: long enough to start a big upload, short enough to leak little. */
export const SLOT_TTL_SECONDS = 15 * 60;
/** Files per CreateUploads call; a client with more asks again. */
export const MAX_SLOTS_PER_CALL = 1000;
/** The stream buffer between the caller and S3: small, so memory stays flat whatever the upload size. */
const BUFFER_BYTES = 256 * 1024;

export function createUploads({
  storage,
  maxUploadBytes,
  log,
  timeoutMs = 300_000,
  newId = () => randomBytes(12).toString("base64url"),
}: UploadsDeps) {
  /** Validates a declared file before any byte is accepted; the same rules, and words, on every upload path. */
  function check(name: string, size: bigint | number): number {
    if (name.trim() === "") throw new ConnectError("the file name is required", Code.InvalidArgument);
    if (name.length > MAX_NAME_CHARS) {
      throw new ConnectError(
        `Expected at most ${MAX_NAME_CHARS} characters for name but received ${name.length}`,
        Code.InvalidArgument,
      );
    }
    const bytes = Number(size);
    if (bytes <= 0) throw emptyFile(name);
    if (bytes > maxUploadBytes) {
      throw new ConnectError(
        `${quoted(name)} is ${bytes} bytes, larger than the upload limit of ${formatExactBytes(maxUploadBytes)}`,
        Code.ResourceExhausted,
      );
    }
    return bytes;
  }

  function storageFailure(err: unknown, what: string): ConnectError {
    // A meter or caller failure travels inside the StorageError that putStream wraps it in.
    const reason = err instanceof StorageError && err.cause !== undefined ? err.cause : err;
    if (reason instanceof ConnectError) return reason;
    if (StorageError.is(reason) && reason.kind === "unavailable") {
      log.warn({ err: reason }, `${what}: object storage unavailable`);
      return new ConnectError("object storage is unavailable, try again later", Code.Unavailable);
    }
    log.error({ err: reason }, `${what} failed`);
    return new ConnectError("internal error", Code.Internal);
  }

  return {
    check,

    /** Streams `body` (exactly `header.size` bytes) to a new upload key of `tenant`. */
    async put(
      tenant: string,
      header: UploadHeader,
      body: AsyncIterable<Uint8Array>,
    ): Promise<{ key: string; size: number }> {
      const size = check(header.name, header.size);
      const key = keys.upload(tenant, keys.uploadId(newId(), size), header.name);
      // A caller that dribbles bytes would otherwise hold the S3 PUT open for as long as it likes.
      const deadline = AbortSignal.timeout(timeoutMs);
      const stream = Readable.from(meter(body, size, header.name, deadline, timeoutMs), {
        objectMode: false,
        highWaterMark: BUFFER_BYTES,
      });
      try {
        await storage.putStream(key, stream, size, header.contentType || "application/octet-stream");
      } catch (err) {
        stream.destroy();
        throw storageFailure(err, `upload ${key}`);
      }
      return { key, size };
    },

    /** Presigned PUT slots, in the order of `files`. */
    async presign(tenant: string, files: readonly { name: string; size: bigint }[]): Promise<UploadSlot[]> {
      if (files.length === 0) throw new ConnectError("at least one file is required", Code.InvalidArgument);
      if (files.length > MAX_SLOTS_PER_CALL) {
        throw new ConnectError(
          `at most ${MAX_SLOTS_PER_CALL} files per call, received ${files.length}`,
          Code.InvalidArgument,
        );
      }
      for (const file of files) check(file.name, file.size);
      const expiresAt = timestampFromMs(Date.now() + SLOT_TTL_SECONDS * 1000);
      return Promise.all(
        files.map(async (file) => {
          const key = keys.upload(tenant, keys.uploadId(newId(), Number(file.size)), file.name);
          try {
            const url = await storage.presignPut(key, SLOT_TTL_SECONDS);
            return create(UploadSlotSchema, { key, url, expiresAt });
          } catch (err) {
            throw storageFailure(err, `presign ${key}`);
          }
        }),
      );
    },
  };
}

export type Uploads = ReturnType<typeof createUploads>;

/**
 * Passes bytes through, failing as soon as they exceed `size`, or at the end if they fall short, or when the
 * deadline passes first. The deadline races each read: a caller that stops sending leaves a read pending
 * forever, and only failing from inside the generator reaches the S3 PUT (destroying the stream from outside
 * waits for the pending read).
 */
async function* meter(
  body: AsyncIterable<Uint8Array>,
  size: number,
  name: string,
  deadline: AbortSignal,
  timeoutMs: number,
): AsyncGenerator<Uint8Array> {
  const tooLate = () =>
    new ConnectError(
      `${quoted(name)} did not arrive within ${timeoutMs} ms; upload it faster or in smaller files`,
      Code.DeadlineExceeded,
    );
  const reads = body[Symbol.asyncIterator]();
  let received = 0;
  let ended = false;
  try {
    for (;;) {
      const next = await beforeDeadline(reads.next(), deadline, tooLate);
      if (next.done) {
        ended = true;
        break;
      }
      received += next.value.byteLength;
      if (received > size) {
        throw new ConnectError(
          `${quoted(name)} is longer than its declared size of ${size} bytes`,
          Code.InvalidArgument,
        );
      }
      yield next.value;
    }
  } finally {
    // Let go of the source without waiting: a read it will never finish may still be pending.
    if (!ended) void reads.return?.()?.catch(() => {});
  }
  if (received !== size) {
    throw new ConnectError(
      `${quoted(name)} ended after ${received} of its declared ${size} bytes`,
      Code.InvalidArgument,
    );
  }
}

/**
 * `read`, or a rejection once `deadline` aborts. A listener per read, removed when it settles: racing every
 * read against one long-lived promise would keep each read's result (every chunk) reachable until the end.
 */
function beforeDeadline<T>(read: Promise<T>, deadline: AbortSignal, error: () => Error): Promise<T> {
  if (deadline.aborted) return Promise.reject(error());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(error());
    deadline.addEventListener("abort", onAbort, { once: true });
    read.then(
      (value) => {
        deadline.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        deadline.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
