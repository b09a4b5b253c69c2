import { formatInfo } from "@imgc/proto";
import sharp, { type Sharp } from "sharp";
import type { Encodable } from "./encode.js";
import { classify } from "./errors.js";
import { type InputContext, isGrey, openInput } from "./input.js";
import { keepAll, readCopyright, withPolicy } from "./metadata.js";

/**
 * The input decoded once: oriented, resized, 8-bit sRGB (or grey), frames stacked vertically. A quality
 * search and a choice between formats encode many times: they all start from these pixels, never decoding
 * twice, and SSIM is measured against them.
 */
export interface Source extends Encodable {
  readonly pixels: Buffer;
  readonly width: number;
  /** The height of one frame. */
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
}

const opaque = (pixels: Buffer, channels: number): boolean => {
  for (let i = channels - 1; i < pixels.length; i += channels) if (pixels[i] !== 255) return false;
  return true;
};

// Keeps `keep` of every `channels` bytes: dropping alpha (3 of 4), or taking grey from sRGB (1 of 3, 2 of 4).
const select = (pixels: Buffer, channels: number, picks: readonly number[]): Buffer => {
  const keep = picks.length;
  const out = Buffer.allocUnsafe((pixels.length / channels) * keep);
  for (let i = 0, o = 0; i < pixels.length; i += channels, o += keep) {
    for (let k = 0; k < keep; k++) out[o + k] = pixels[i + (picks[k] as number)] as number;
  }
  return out;
};

export const decodeSource = async (ctx: InputContext): Promise<Source> => {
  const { header, plan, keepFrames, deadline } = ctx;
  const frames = keepFrames ? header.frames : 1;
  const decoded = await deadline
    .run(openInput(ctx).toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true }))
    .catch((e: unknown) => {
      throw classify(e, formatInfo(header.format).name);
    });
  let pixels: Buffer = decoded.data;
  let channels = decoded.info.channels as 1 | 2 | 3 | 4;
  const width = decoded.info.width;
  const height = Math.floor(decoded.info.height / frames);
  // An alpha channel that is opaque everywhere costs bytes in every format and rules JPEG out: drop it.
  let hasAlpha = channels === 2 || channels === 4;
  if (hasAlpha && opaque(pixels, channels)) {
    pixels = select(pixels, channels, channels === 4 ? [0, 1, 2] : [0]);
    channels = (channels - 1) as 1 | 3;
    hasAlpha = false;
  }
  // A grey input was decoded as sRGB (libvips loses the alpha of 16-bit grey converted straight to 8-bit
  // grey); one channel again encodes smaller in every format.
  if (channels >= 3 && isGrey(header)) {
    pixels = select(pixels, channels, channels === 4 ? [0, 3] : [0]);
    channels = (channels === 4 ? 2 : 1) as 1 | 2;
  }
  const raw = { width, height: height * frames, channels, ...(frames > 1 ? { pageHeight: height } : {}) };
  const copyright = readCopyright(header.exif);
  // Without an explicit grey colourspace sharp would write one or two channels back out as sRGB.
  const fromPixels = (): Sharp =>
    channels <= 2 ? sharp(pixels, { raw }).toColourspace("b-w") : sharp(pixels, { raw });
  const pipeline =
    plan.metadata === "keep-all"
      ? // Metadata lives in the input, not in the pixels: keep-all encodes from the input, same steps.
        () => {
          const img = keepAll(openInput(ctx), header);
          return hasAlpha || !header.hasAlpha ? img : img.removeAlpha();
        }
      : () => withPolicy(fromPixels(), plan, copyright);
  return {
    pixels,
    width,
    height,
    channels,
    frames,
    hasAlpha,
    loop: header.loop,
    delay: header.delay.slice(0, frames),
    ...(plan.metadata === "keep-all" ? { decodes: formatInfo(header.format).name } : {}),
    pipeline,
  };
};
