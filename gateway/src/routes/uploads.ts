/**
 * Uploads over plain HTTP, for curl users:
 *
 *   curl -T photo.jpg -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/uploads/photo.jpg
 *   curl -F file=@a.jpg -F file=@b.png -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/uploads
 *
 * `PUT /v1/uploads/:name` (with a Content-Length) pipes the request stream straight to S3: never parsed nor
 * buffered. Answers {key, size}; the key is what SubmitJob takes as a source.
 *
 * `POST /v1/uploads` (multipart/form-data, one or many files) answers {uploads: [{key, name, size}]}. A
 * multipart part's size is not known until its closing boundary, and an upload is one presigned PUT that
 * needs its exact length up front (S3 refuses chunked PUTs; multipart S3 uploads are out, see
 * common/src/storage.ts). So each part is spooled to a temporary file while it is counted, the upload limit
 * enforced as it streams (busboy stops at the limit), then streamed from the file into S3, and the file
 * deleted: memory stays flat, and the disk holds one part at a time.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import fastifyMultipart from "@fastify/multipart";
import { quoted } from "@imgc/common";
import { formatExactBytes } from "@imgc/proto";
import type { FastifyPluginAsync } from "fastify";
import { type Authenticate, tenantAuth } from "../plugins/auth.js";
import { HttpError } from "../plugins/errors.js";
import { errorResponses } from "../plugins/openapi.js";
import { emptyFile, MAX_NAME_CHARS, type Uploads } from "../services/uploads.js";

export interface UploadRoutesDeps {
  uploads: Uploads;
  authenticate: Authenticate;
  maxUploadBytes: number;
  /** Where multipart parts are spooled; the OS temporary folder by default. */
  spoolDir?: string;
}

/** Files per multipart request; more is 413 before the extra part is read. */
export const MAX_FILES_PER_REQUEST = 100;

/** The upload routes, in a scope of their own: their content-type parsers and auth apply to them only. */
export const uploadRoutes: FastifyPluginAsync<UploadRoutesDeps> = async (
  scope,
  { uploads, authenticate, maxUploadBytes, spoolDir = tmpdir() },
) => {
  await scope.register(tenantAuth, { authenticate });
  // Every content type is passed through untouched: the handlers stream the raw request.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
  await scope.register(fastifyMultipart, {
    limits: { fileSize: maxUploadBytes, files: MAX_FILES_PER_REQUEST, fields: 100, fieldSize: 64 * 1024 },
    // The size limit is checked below, so that it fails with the same message as the other upload paths.
    throwFileSizeLimit: false,
  });
  // A refused upload leaves its body unread: close the connection rather than drain megabytes.
  scope.addHook("onSend", async (request, reply) => {
    if (reply.statusCode >= 400 && !request.raw.complete) reply.header("connection", "close");
  });

  scope.put<{ Params: { name: string } }>("/v1/uploads/:name", { schema: PUT_SCHEMA }, async (request, reply) => {
    const length = request.headers["content-length"];
    if (length === undefined || !/^\d+$/.test(length)) {
      throw new HttpError(
        411,
        "length_required",
        "a Content-Length header is required (chunked uploads are not accepted)",
      );
    }
    // Rejected here, before a single byte of the body is read.
    uploads.check(request.params.name, Number(length));
    const stored = await uploads.put(
      request.tenant,
      { name: request.params.name, size: Number(length), contentType: request.headers["content-type"] ?? "" },
      request.raw,
    );
    return reply.send(stored);
  });

  scope.post("/v1/uploads", { schema: POST_SCHEMA }, async (request, reply) => {
    if (!request.isMultipart()) {
      throw new HttpError(
        415,
        "unsupported_media_type",
        "send the files as multipart/form-data (or PUT one file to /v1/uploads/<name>)",
      );
    }
    const stored: { key: string; name: string; size: number }[] = [];
    const dir = await mkdtemp(join(spoolDir, "imgc-upload-"));
    try {
      let index = 0;
      for await (const part of request.files()) {
        const name = part.filename;
        const path = join(dir, String(index++));
        await pipeline(part.file, createWriteStream(path));
        const { size } = await stat(path);
        // A form's empty file input arrives as a part with no name and no bytes.
        if (name === "" && size === 0) continue;
        if (part.file.truncated) {
          throw new HttpError(
            413,
            "resource_exhausted",
            `${quoted(name)} is larger than the upload limit of ${formatExactBytes(maxUploadBytes)}`,
          );
        }
        if (size === 0) throw emptyFile(name);
        const upload = await uploads.put(
          request.tenant,
          { name, size, contentType: part.mimetype },
          createReadStream(path),
        );
        stored.push({ key: upload.key, name, size });
        await rm(path, { force: true });
      }
    } catch (err) {
      throw multipartError(err);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    if (stored.length === 0) {
      throw new HttpError(400, "invalid_argument", "no file in the form: add one or more file parts");
    }
    return reply.send({ uploads: stored });
  });
};

const STORED = {
  type: "object",
  required: ["key", "size"],
  properties: {
    key: { type: "string", description: "the upload key SubmitJob takes as a source" },
    size: { type: "integer", description: "bytes stored" },
  },
} as const;

const PUT_SCHEMA = {
  tags: ["uploads"],
  summary: "Upload one file (curl -T)",
  description:
    "Streams the body into object storage. Content-Length is required (chunked bodies are 411); at most IMGC_MAX_UPLOAD_BYTES (64 MiB by default).",
  security: [{ apiKey: [] }],
  params: {
    type: "object",
    required: ["name"],
    properties: {
      name: {
        type: "string",
        minLength: 1,
        maxLength: MAX_NAME_CHARS,
        description: "the file's name (URL-encoded); the stored key keeps its last 120 safe characters",
      },
    },
  },
  response: { 200: { ...STORED, description: "stored" }, ...errorResponses(400, 401, 411, 413, 429, 503) },
} as const;

const POST_SCHEMA = {
  tags: ["uploads"],
  summary: "Upload one or more files as a multipart form (curl -F)",
  description: `At most ${MAX_FILES_PER_REQUEST} file parts, each at most IMGC_MAX_UPLOAD_BYTES; empty file inputs are skipped.`,
  security: [{ apiKey: [] }],
  response: {
    200: {
      description: "every file stored, in the form's order",
      type: "object",
      required: ["uploads"],
      properties: {
        uploads: {
          type: "array",
          items: {
            ...STORED,
            required: ["key", "name", "size"],
            properties: { ...STORED.properties, name: { type: "string" } },
          },
        },
      },
    },
    ...errorResponses(400, 401, 413, 415, 429, 503),
  },
} as const;

/** @fastify/multipart's and busboy's failures, as the stable codes of every other route. */
function multipartError(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code === "FST_FILES_LIMIT") {
    return new HttpError(413, "resource_exhausted", `at most ${MAX_FILES_PER_REQUEST} files per request`);
  }
  if (code === "FST_PARTS_LIMIT" || code === "FST_FIELDS_LIMIT") {
    return new HttpError(413, "resource_exhausted", "too many form fields");
  }
  if (code === "FST_MP_PREMATURE_CLOSE") return new HttpError(400, "invalid_argument", "the request ended early");
  if (err instanceof Error && !(err instanceof HttpError) && !("rawMessage" in err) && code === undefined) {
    // busboy's parse errors ("Unexpected end of form", "Malformed part header") are plain Errors.
    if (/multipart|form|part|boundary/i.test(err.message)) {
      return new HttpError(400, "invalid_argument", `malformed multipart body: ${err.message}`);
    }
  }
  return err;
}
