// Shared by the pipeline's unit tests: the corpus, default limits, options and error capture.
import { readFileSync } from "node:fs";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type CompressionOptions, CompressionOptionsSchema } from "@imgc/proto";
import sharp from "sharp";
import { CompressError } from "./errors.js";
import type { Limits } from "./limits.js";
import type { Pixels } from "./ssim.js";

const corpus = new URL("../../../../shared/corpus/", import.meta.url);

/** A file of ../shared/corpus, e.g. "edge/check.svg". */
export const corpusFile = (path: string): Buffer => readFileSync(new URL(path, corpus));

export const corpusDir = (dir: "photos" | "edge" | "bad"): URL => new URL(`${dir}/`, corpus);

export const limits: Limits = { maxInputBytes: 50_000_000, maxPixels: 50_000_000, maxFrames: 500, timeoutMs: 60_000 };

export const options = (init: MessageInitShape<typeof CompressionOptionsSchema> = {}): CompressionOptions =>
  create(CompressionOptionsSchema, init);

/** The CompressError a promise rejects with; fails the test when it resolves or rejects with anything else. */
export const failure = async (promise: Promise<unknown>): Promise<CompressError> => {
  const e = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!CompressError.isCompressError(e)) throw new Error(`expected a CompressError, got ${String(e)}`);
  return e;
};

/** An image decoded to 8-bit sRGB pixels, EXIF orientation applied: what a viewer sees, for re-measuring outputs. */
export const pixelsOf = async (data: Buffer): Promise<Pixels> => {
  const { data: px, info } = await sharp(data, { autoOrient: true })
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return { data: px, width: info.width, height: info.height, channels: info.channels };
};
