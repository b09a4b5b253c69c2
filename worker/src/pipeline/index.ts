import {
  type CompressionOptions,
  ErrorCode,
  formatBytes,
  formatInfo,
  ImageFormat,
  type InputFormat,
} from "@imgc/proto";
import { asItemError, ItemError } from "../item-error.js";
import { candidateFormats, keepsAnimation } from "./auto.js";
import { createDeadline, type Deadline } from "./deadline.js";
import { sniffInput } from "./header.js";
import { keptOriginal } from "./kept-original.js";
import { checkHeader, type Limits } from "./limits.js";
import { createMeter } from "./meter.js";
import { checkOutputSize } from "./output-size.js";
import { reachScore } from "./perceptual.js";
import { type Plan, planOf } from "./plan.js";
import { shrinkToFit } from "./shrink.js";
import { decodeSource, type Source } from "./source.js";
import { keepsDepth, streamable, streamSource } from "./stream.js";
import { type Candidate, fixedGoal, OverBudget, reachFixed, reachGoal } from "./targets.js";

export type { Limits } from "./limits.js";
export { optionsHash } from "./options-hash.js";

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
  /** The SSIM against the source, where it was computed (min-SSIM and max-bytes targets). */
  ssim?: number;
  /** The SSIMULACRA 2 score against the source, where it was computed (perceptual targets, AUTO's default). */
  score?: number;
  keptReason?: string;
  /** The input's pages (see Header.pages); only the first is compressed. */
  inputPages?: number;
  /** A remark for people on an output that is not wholly what was asked (a multipage input kept page 1). */
  note?: string;
  /** Shrunk to fit the byte budget (shrink_to_fit): the size the output would have had otherwise. */
  shrunkFrom?: { width: number; height: number };
}

/**
 * Compresses one image as the options ask, within the limits. Never throws anything but an ItemError,
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
    const plan = planOf(options);
    const { format: inputFormat, decodable, header } = await sniffInput(input, limits, deadline);
    const keepFrames = keepsAnimation(plan, header.frames);
    checkHeader(header, limits, keepFrames);
    checkOutputSize(header, plan.resize, limits, keepFrames ? header.frames : 1);

    // One fixed encode in a format known up front streams from the input; anything that compares encodes
    // (a search, AUTO's choice) decodes once to memory first.
    const allowed = candidateFormats(plan, inputFormat, header.hasAlpha, keepFrames, avifAffordable(header, limits));
    // Lossless means every bit: of the formats AUTO may choose (the default set included), only PNG holds 16
    // bits per sample.
    const pngAllowed =
      allowed.includes(ImageFormat.PNG) || (plan.format === "auto" && plan.autoFormats.length === 0 && !keepFrames);
    const formats =
      plan.goal.kind === "lossless" && pngAllowed && keepsDepth(ImageFormat.PNG, header, plan)
        ? [ImageFormat.PNG as const]
        : allowed;
    const only = formats.length === 1 ? formats[0] : undefined;
    const fixed = only === undefined ? undefined : fixedGoal(only, plan);
    // The whole search at one resize: the job's own, or a smaller one while shrinking to fit.
    const reach = async (resize: Plan["resize"]): Promise<Candidate> => {
      const sized = resize === plan.resize ? plan : { ...plan, resize };
      const ctx = { input: decodable, header, plan: sized, limits, keepFrames, deadline };
      return only !== undefined && fixed && streamable(only, header, sized)
        ? await reachFixed(streamSource(ctx, only), only, fixed, sized, deadline)
        : await bestOf(
            await decodeSource(ctx),
            inputFormat,
            sized,
            keepFrames,
            deadline,
            avifAffordable(header, limits),
          );
    };
    const goal = plan.goal;
    const { best, from: shrunkFrom } =
      plan.shrinkToFit && goal.kind === "max-bytes"
        ? await shrinkToFit(reach, plan.resize, goal.maxBytes)
        : { best: await reach(plan.resize), from: undefined };

    const common = { inputFormat, width: best.width, height: best.height, inputPages: header.pages };
    // A resized output answers a different question than the original does: it is never swapped back.
    const turned = header.orientation >= 5;
    const resized =
      best.width !== (turned ? header.height : header.width) || best.height !== (turned ? header.width : header.height);
    // The original as it may be stored under the metadata policy (stripped at the container level); undefined
    // where it may not be (an SVG, or metadata that cannot be stripped without re-encoding).
    const original =
      plan.neverLarger &&
      !resized &&
      best.data.length >= input.length &&
      originalAcceptable(plan, inputFormat, best.format)
        ? keptOriginal(input, inputFormat, header, plan)
        : undefined;
    if (original && best.data.length >= original.length) {
      const { extension, contentType } = formatInfo(inputFormat);
      return {
        ...common,
        kind: "kept-original",
        data: original,
        format: inputFormat,
        extension,
        contentType,
        quality: 0,
        // The original is the source itself: where SSIM is part of the answer, it is exactly 1.
        ...(plan.goal.kind === "min-ssim" || plan.goal.kind === "max-bytes" ? { ssim: 1 } : {}),
        ...(plan.goal.kind === "min-score" ? { score: 100 } : {}),
        keptReason: `The ${formatInfo(best.format).name} output (${best.data.length} bytes) was not smaller than the original (${original.length} bytes${original.length < input.length ? ` once its metadata was stripped, ${input.length} as uploaded` : ""})`,
      };
    }
    const { extension, contentType } = formatInfo(best.format);
    const notes = [
      // A kept original keeps every page; an output has the first only.
      header.pages > 1
        ? `The ${formatInfo(inputFormat).name} has ${header.pages} pages; only page 1 was compressed (no output format holds pages)`
        : "",
      shrunkFrom && goal.kind === "max-bytes"
        ? `Resized from ${shrunkFrom.width}×${shrunkFrom.height} to ${best.width}×${best.height} to fit ${formatBytes(goal.maxBytes)}`
        : "",
    ].filter((n) => n !== "");
    return {
      ...common,
      kind: "compressed",
      data: best.data,
      format: best.format,
      extension,
      contentType,
      quality: best.quality,
      ...(best.ssim === undefined ? {} : { ssim: best.ssim }),
      ...(notes.length > 0 ? { note: notes.join("; ") } : {}),
      ...(shrunkFrom ? { shrunkFrom } : {}),
      ...(best.score === undefined ? {} : { score: best.score }),
    };
  } catch (e) {
    throw asItemError(e, "The image could not be processed because of an internal error");
  }
}

/** Reaches the goal in each candidate format, from the decoded source, and keeps the best result. */
const bestOf = async (
  source: Source,
  inputFormat: InputFormat,
  plan: Plan,
  keepFrames: boolean,
  deadline: Deadline,
  avif: boolean,
): Promise<Candidate> => {
  const formats = candidateFormats(plan, inputFormat, source.hasAlpha, keepFrames, avif);
  if (plan.goal.kind === "min-score")
    return reachScore(formats, { source, plan, deadline, target: plan.goal.minScore });
  const meter = createMeter(source, deadline);
  let best: Candidate | undefined;
  let failure: ItemError | undefined;
  for (const format of formats) {
    const sizeToBeat = best?.data.length;
    try {
      const candidate = await reachGoal(format, {
        source,
        plan,
        deadline,
        meter,
        ...(sizeToBeat === undefined ? {} : { sizeToBeat }),
      });
      if (candidate && (!best || better(candidate, best, plan))) best = candidate;
    } catch (e) {
      // A goal one format cannot meet (AUTO): the others may.
      if (!ItemError.is(e) || e.code !== ErrorCode.INVALID_OPTIONS || formats.length === 1) throw e;
      // Over a byte budget in every format, the smallest miss is the one shrinking to fit estimates from.
      if (!failure || (OverBudget.is(e) && OverBudget.is(failure) && e.smallest < failure.smallest)) failure = e;
    }
  }
  if (!best) throw failure ?? new ItemError(ErrorCode.INTERNAL, "No output format could be tried");
  return best;
};

/**
 * Whether AUTO's default set may include AVIF: a perceptual search encodes it once or twice at full size at
 * sharp's effort 2, about 0.25 µs of CPU per pixel on this 2-core machine; counted at 1 µs to leave room for a
 * loaded one, it must fit in a quarter of the item's time budget.
 */
const avifAffordable = (header: { width: number; height: number; frames: number }, limits: Limits): boolean =>
  header.width * header.height * 1e-3 <= limits.timeoutMs / 4;

/**
 * Which of two formats' results AUTO keeps: the smaller, except under a byte budget, where every result fits
 * and the one that looks best (highest SSIM) is what the budget should buy.
 */
const better = (a: Candidate, b: Candidate, plan: Plan): boolean => {
  if (plan.goal.kind === "max-bytes" && a.ssim !== undefined && b.ssim !== undefined && a.ssim !== b.ssim) {
    return a.ssim > b.ssim;
  }
  return a.data.length < b.data.length;
};

/**
 * Never-larger keeps the original only where it is an answer the job accepts: the same format, KEEP, or AUTO
 * with the default set or a set that includes the input's format.
 */
const originalAcceptable = (plan: Plan, input: ImageFormat, output: ImageFormat): boolean => {
  if (plan.format === "keep") return true;
  if (plan.format === "auto")
    return output === input || plan.autoFormats.length === 0 || plan.autoFormats.some((f) => f === input);
  return plan.format === input;
};
