import { formatInfo, ImageFormat, type OutputFormat } from "@imgc/proto";
import type { Encodable } from "./encode.js";
import type { Header } from "./header.js";
import { type InputContext, isGrey, openInput } from "./input.js";
import { keepAll, readCopyright, withPolicy } from "./metadata.js";
import type { Plan } from "./plan.js";

/**
 * Whether one encode can stream straight from the input, decode and encode in one libvips pass, instead of
 * decoding to memory first. That is ~10% faster and holds a few strips, not the whole image, in memory; it
 * only loses what needs the pixels in hand: dropping an alpha channel that turns out to be opaque (PNG and
 * AVIF would carry it; JPEG flattens and libwebp drops it by itself), and grey with alpha (libvips loses
 * the alpha of 16-bit grey converted to 8-bit).
 */
export const streamable = (format: OutputFormat, header: Header, plan: Plan): boolean =>
  keepsDepth(format, header, plan) ||
  !header.hasAlpha ||
  (!isGrey(header) && (format === ImageFormat.JPEG || format === ImageFormat.WEBP));

/**
 * Whether the output keeps 16 bits per sample: a 16-bit input written as PNG without palette quantisation.
 * PNG is lossless here, and lossless means every bit of the input, so it streams at 16 bits (the decoded
 * Source is 8-bit: it exists to be measured against lossy encodes).
 */
export const keepsDepth = (format: OutputFormat, header: Header, plan: Plan): boolean =>
  format === ImageFormat.PNG && !plan.palette && (header.space === "rgb16" || header.space === "grey16");

// The colour space a stream converts to: sRGB or grey, 16-bit where the output keeps the depth.
const spaceOf = (header: Header, deep: boolean) =>
  isGrey(header) ? (deep ? "grey16" : "b-w") : deep ? "rgb16" : "srgb";

/** The input as one streaming pipeline, with the same colour and metadata handling as a decoded Source. */
export const streamSource = (ctx: InputContext, format: OutputFormat): Encodable => {
  const { header, plan, keepFrames } = ctx;
  const deep = keepsDepth(format, header, plan);
  const copyright = readCopyright(header.exif);
  const frames = keepFrames ? header.frames : 1;
  return {
    hasAlpha: header.hasAlpha,
    frames,
    loop: header.loop,
    delay: header.delay.slice(0, frames),
    decodes: formatInfo(header.format).name,
    pipeline: () =>
      plan.metadata === "keep-all"
        ? keepAll(deep ? openInput(ctx).toColourspace(spaceOf(header, true)) : openInput(ctx), header)
        : withPolicy(openInput(ctx).toColourspace(spaceOf(header, deep)), plan, copyright),
  };
};
