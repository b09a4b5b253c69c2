/**
 * Uploads into object storage, shared by the UploadImage RPC, CreateUploads and `PUT /v1/uploads/:name`.
 *
 * Bytes are never gathered in memory: they flow from the caller's stream through a meter into a presigned
 * PUT whose Content-Length is the declared size, pulled only as fast as S3 takes them.
 */
import { randomBytes } from "node:crypto";
import { pipeline, Readable, Transform } from "node:stream";
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
      const stream = metered(body, size, header.name, timeoutMs);
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
 * `body` as a stream of exactly `size` bytes: it fails as soon as more arrive, at the end if fewer did, or when
 * `timeoutMs` passes first (a caller that stops sending would otherwise hold the S3 PUT open). A failure
 * destroys the source. A Transform rather than an async generator: per chunk it costs a call, not the promises
 * of two async iterators (a tenth of the gateway's CPU per small upload went there).
 */
function metered(body: AsyncIterable<Uint8Array>, size: number, name: string, timeoutMs: number): Readable {
  let received = 0;
  const meter = new Transform({
    readableHighWaterMark: BUFFER_BYTES,
    writableHighWaterMark: BUFFER_BYTES,
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.byteLength;
      if (received > size) {
        done(
          new ConnectError(`${quoted(name)} is longer than its declared size of ${size} bytes`, Code.InvalidArgument),
        );
      } else {
        done(null, chunk);
      }
    },
    flush(done) {
      if (received === size) return done();
      done(
        new ConnectError(`${quoted(name)} ended after ${received} of its declared ${size} bytes`, Code.InvalidArgument),
      );
    },
  });
  const timer = setTimeout(() => {
    meter.destroy(
      new ConnectError(
        `${quoted(name)} did not arrive within ${timeoutMs} ms; upload it faster or in smaller files`,
        Code.DeadlineExceeded,
      ),
    );
  }, timeoutMs);
  meter.once("close", () => clearTimeout(timer));
  const source = body instanceof Readable ? body : Readable.from(body, { objectMode: false });
  // Errors of either side reach the meter, which the S3 PUT reads; its own failures destroy the source.
  pipeline(source, meter, () => {});
  return meter;
}
