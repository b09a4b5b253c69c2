import { ImageFormat, type InputFormat, type OutputFormat } from "@imgc/proto";
import type { Plan } from "./plan.js";

/**
 * AUTO's default choice. Opaque: JPEG and WebP — mozjpeg and libwebp are fast, and between them win on
 * photos. With alpha: WebP and PNG (PNG wins on flat graphics, WebP on photos). Under a perceptual target AVIF
 * joins both sets when the time budget allows (`avif`): it is usually the smallest at a given score, and the
 * search encodes it at full size once or twice at a fast libaom speed; other goals encode every candidate at
 * full size, where AVIF costs about 20 WebP encodes, so there it is opt-in.
 */
export const defaultAutoFormats = (hasAlpha: boolean, avif = false): readonly OutputFormat[] => {
  const formats: OutputFormat[] = hasAlpha ? [ImageFormat.WEBP, ImageFormat.PNG] : [ImageFormat.JPEG, ImageFormat.WEBP];
  if (avif) formats.push(ImageFormat.AVIF);
  return formats;
};

// Fastest encoder first: a slower one then searches with a size to beat, and stops early when it cannot.
const speed: readonly OutputFormat[] = [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.PNG, ImageFormat.AVIF];

/** The only output format that keeps animation. */
const animatedFormat = ImageFormat.WEBP;

/** KEEP's format: the input's, or its nearest writable kin (GIF keeps its animation as WebP). */
const keepFormat = (input: InputFormat, animated: boolean): OutputFormat => {
  switch (input) {
    case ImageFormat.GIF:
      return animated ? ImageFormat.WEBP : ImageFormat.PNG;
    case ImageFormat.TIFF:
    case ImageFormat.SVG:
      return ImageFormat.PNG;
    default:
      return input;
  }
};

/**
 * Whether an animated input stays animated: only when asked (not flattened) and when the output can be
 * WebP. Decided before decoding, since it decides whether every frame is decoded.
 */
export const keepsAnimation = (plan: Plan, frames: number): boolean => {
  if (frames <= 1 || plan.flattenAnimation) return false;
  if (plan.format === "keep") return true;
  if (plan.format === "auto") return plan.autoFormats.length === 0 || plan.autoFormats.includes(animatedFormat);
  return plan.format === animatedFormat;
};

/** The formats to try, in order of preference; the smallest result that meets the goal wins. */
export const candidateFormats = (
  plan: Plan,
  input: InputFormat,
  hasAlpha: boolean,
  animated: boolean,
  avifAffordable = false,
): readonly OutputFormat[] => {
  if (plan.format === "keep") return [keepFormat(input, animated)];
  if (plan.format !== "auto") return [plan.format];
  if (animated) return [animatedFormat];
  const allowed =
    plan.autoFormats.length > 0
      ? plan.autoFormats
      : defaultAutoFormats(hasAlpha, avifAffordable && plan.goal.kind === "min-score");
  // JPEG would lose the alpha channel, and cannot be lossless: only when the job allows nothing else.
  const fit = hasAlpha || plan.goal.kind === "lossless" ? allowed.filter((f) => f !== ImageFormat.JPEG) : allowed;
  const ordered = (fit.length > 0 ? fit : allowed).slice().sort((a, b) => speed.indexOf(a) - speed.indexOf(b));
  return ordered;
};
