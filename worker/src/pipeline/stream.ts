import { ImageFormat } from "@imgc/proto";
import type { Encodable } from "./encode.js";
import { formatInfo, type OutputFormat } from "./formats.js";
import type { Header } from "./header.js";
import { type InputContext, isGrey, openInput } from "./input.js";
import { readCopyright, withPolicy } from "./metadata.js";

/**
 * Whether one encode can stream straight from the input, decode and encode in one libvips pass, instead of
 * decoding to memory first. That is ~10% faster and holds a few strips, not the whole image, in memory; it
 * only loses what needs the pixels in hand: dropping an alpha channel that turns out to be opaque (PNG and
 * AVIF would carry it; JPEG flattens and libwebp drops it by itself), and grey with alpha (libvips loses
 * the alpha of 16-bit grey converted to 8-bit).
 */
export const streamable = (format: OutputFormat, header: Header): boolean =>
  !header.hasAlpha || (!isGrey(header) && (format === ImageFormat.JPEG || format === ImageFormat.WEBP));

/** The input as one streaming pipeline, with the same colour and metadata handling as a decoded Source. */
export const streamSource = (ctx: InputContext): Encodable => {
  const { header, plan, keepFrames } = ctx;
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
        ? openInput(ctx).keepMetadata()
        : withPolicy(openInput(ctx).toColourspace(isGrey(header) ? "b-w" : "srgb"), plan, copyright),
  };
};
