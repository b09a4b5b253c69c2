/**
 * A child of the worker that compresses images for it, one at a time (see engine-pool.ts): it answers each
 * request with the outcome or the CompressError's code and message. It has no life of its own: it leaves when
 * the worker closes the channel (or dies), and it ignores the terminal's signals, which the worker handles for
 * the whole process group by draining first.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, ErrorCode } from "@imgc/proto";
import sharp from "sharp";
import type { EngineReply, EngineRequest } from "./engine-pool.js";
import { CompressError, compress } from "./pipeline/index.js";

// A send fails only when the worker is gone: so is the reason to live.
const send = (reply: EngineReply | { ready: true }) =>
  process.send?.(reply, (err: Error | null) => {
    if (err) process.exit(0);
  });

// Each answer carries the child's resident memory, so that the pool can replace a child that grew too large.
async function answer(request: EngineRequest): Promise<EngineReply> {
  try {
    const input = Buffer.from(request.input.buffer, request.input.byteOffset, request.input.byteLength);
    const options = fromBinary(CompressionOptionsSchema, request.options);
    const outcome = await compress(input, options, request.limits);
    return { id: request.id, ok: true, outcome, rss: process.memoryUsage.rss() };
  } catch (err) {
    const rss = process.memoryUsage.rss();
    if (CompressError.isCompressError(err)) {
      return { id: request.id, ok: false, code: err.code, message: err.message, rss };
    }
    process.stderr.write(`engine child: unexpected failure: ${(err as Error)?.stack ?? String(err)}\n`);
    return { id: request.id, ok: false, code: ErrorCode.INTERNAL, message: "internal error while compressing", rss };
  }
}

// The pool shares the cores out among its children (VIPS_CONCURRENCY). Set explicitly: on glibc, sharp drops
// its default to 1 thread unless MALLOC_ARENA_MAX is set, and otherwise takes every core, per child.
sharp.concurrency(Math.max(1, Number(process.env.VIPS_CONCURRENCY) || 1));
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});
process.on("disconnect", () => process.exit(0));
process.on("message", (request: EngineRequest) => {
  void answer(request).then(send);
});
send({ ready: true });
