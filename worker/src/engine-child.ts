/** A child of the worker that compresses images for it, one at a time (see engine-pool.ts). */
import { fromBinary } from "@bufbuild/protobuf";
import { CompressionOptionsSchema } from "@imgc/proto";
import sharp from "sharp";
import { serveEngineRequests } from "./engine-child-runtime.js";
import { compress } from "./pipeline/index.js";

// The pool shares the cores out among its children (VIPS_CONCURRENCY). Set explicitly: on glibc, sharp drops
// its default to 1 thread unless MALLOC_ARENA_MAX is set, and otherwise takes every core, per child.
sharp.concurrency(Math.max(1, Number(process.env.VIPS_CONCURRENCY) || 1));
serveEngineRequests("compress", (request) => {
  const input = Buffer.from(request.input.buffer, request.input.byteOffset, request.input.byteLength);
  return compress(input, fromBinary(CompressionOptionsSchema, request.options), request.limits);
});
