import { type CompressionOptions, ErrorCode, type ImageFormat } from "@imgc/proto";
import { candidateFormats, keepsAnimation } from "./auto.js";
import { createDeadline } from "./deadline.js";
import { detectFormat } from "./detect.js";
import { CompressError } from "./errors.js";
import { formatInfo } from "./formats.js";
import { readHeader } from "./header.js";
import { checkHeader, checkInputSize, type Limits } from "./limits.js";
import { type Plan, planOf } from "./plan.js";
import { decodeSource } from "./source.js";
import { type Candidate, reachGoal } from "./targets.js";

export { CompressError } from "./errors.js";
export type { Limits } from "./limits.js";

/** What became of one image. */
export interface CompressOutcome {
  kind: "compressed" | "kept-original";
  /** The bytes to write: the original bytes for kept-original. */
  data: Buffer;
  format: ImageFormat;
  inputFormat: ImageFormat;
  extension: string;
  contentType: string;
  width: number;
  height: number;
  /** The encoder quality, 0 when lossless. */
  quality: number;
  ssim?: number;
  keptReason?: string;
}

const internal = (e: unknown): CompressError =>
  CompressError.isCompressError(e)
    ? e
    : new CompressError(ErrorCode.INTERNAL, "The image could not be processed because of an internal error", {
        cause: e,
      });

/**
 * Compresses one image as the options ask, within the limits. Never throws anything but a CompressError,
 * whose code is the item's stable error code.
 */
export async function compress(
  input: Buffer,
  options: CompressionOptions,
  limits: Limits,
  signal?: AbortSignal,
): Promise<CompressOutcome> {
  try {
    const deadline = createDeadline(limits.timeoutMs, signal);
    checkInputSize(input.length, limits);
    const plan = planOf(options);
    const inputFormat = detectFormat(input);
    const header = await deadline.run(readHeader(input, inputFormat));
    const keepFrames = keepsAnimation(plan, header.frames);
    checkHeader(header, limits, keepFrames);
    const source = await decodeSource({ input, header, plan, limits, keepFrames, deadline });

    let best: Candidate | undefined;
    for (const format of candidateFormats(plan, inputFormat, source.hasAlpha, keepFrames)) {
      const candidate = await reachGoal(source, format, plan, deadline);
      if (!best || candidate.data.length < best.data.length) best = candidate;
    }
    if (!best) throw new CompressError(ErrorCode.INTERNAL, "No output format to try");

    const common = { inputFormat, width: source.width, height: source.height };
    if (plan.neverLarger && best.data.length >= input.length && keepsOriginal(plan, inputFormat, best.format)) {
      const { extension, contentType } = formatInfo(inputFormat);
      return {
        ...common,
        kind: "kept-original",
        data: input,
        format: inputFormat,
        extension,
        contentType,
        quality: 0,
        keptReason: `The ${formatInfo(best.format).name} output (${best.data.length} bytes) was not smaller than the input (${input.length} bytes)`,
      };
    }
    const { extension, contentType } = formatInfo(best.format);
    return {
      ...common,
      kind: "compressed",
      data: best.data,
      format: best.format,
      extension,
      contentType,
      quality: best.quality,
      ...(best.ssim === undefined ? {} : { ssim: best.ssim }),
    };
  } catch (e) {
    throw internal(e);
  }
}

/**
 * Never-larger applies where the original is an answer the job accepts: the same format, KEEP, or AUTO
 * when the input's format is among those AUTO may choose.
 */
const keepsOriginal = (plan: Plan, input: ImageFormat, output: ImageFormat): boolean => {
  if (plan.format === "keep") return true;
  if (plan.format === "auto")
    return output === input || plan.autoFormats.length === 0 || plan.autoFormats.some((f) => f === input);
  return plan.format === input;
};
