import sharp, { type ResizeOptions, type Sharp } from "sharp";
import type { Deadline } from "./deadline.js";
import { classify } from "./errors.js";
import { formatInfo } from "./formats.js";
import type { Header } from "./header.js";
import type { Limits } from "./limits.js";
import { readCopyright, withPolicy } from "./metadata.js";
import type { Plan, ResizePlan } from "./plan.js";

/**
 * The input decoded once: oriented, resized, in sRGB (or 8-bit grey), frames stacked vertically. Every
 * encode and every SSIM measurement starts from these pixels, so a quality search never decodes twice.
 */
export interface Source {
  readonly pixels: Buffer;
  readonly width: number;
  /** The height of one frame. */
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
  readonly frames: number;
  readonly hasAlpha: boolean;
  readonly loop: number;
  readonly delay: readonly number[];
  /** A fresh sharp pipeline to encode from: over the pixels, or under keep-all over the input, same steps. */
  readonly pipeline: () => Sharp;
}

// The background a contain-fit letterbox is filled with: transparent when the image has alpha.
const resizeOptions = (r: ResizePlan, hasAlpha: boolean): ResizeOptions => ({
  ...(r.maxWidth > 0 ? { width: r.maxWidth } : {}),
  ...(r.maxHeight > 0 ? { height: r.maxHeight } : {}),
  fit: r.fit,
  withoutEnlargement: !r.allowEnlarge,
  background: hasAlpha ? { r: 0, g: 0, b: 0, alpha: 0 } : { r: 255, g: 255, b: 255, alpha: 1 },
});

const opaque = (pixels: Buffer, channels: number): boolean => {
  for (let i = channels - 1; i < pixels.length; i += channels) if (pixels[i] !== 255) return false;
  return true;
};

const neutral = (pixels: Buffer, channels: number): boolean => {
  for (let i = 0; i < pixels.length; i += channels) {
    const r = pixels[i];
    if (r !== pixels[i + 1] || r !== pixels[i + 2]) return false;
  }
  return true;
};

const dropAlpha = (pixels: Buffer, channels: number): Buffer => {
  const keep = channels - 1;
  const out = Buffer.allocUnsafe((pixels.length / channels) * keep);
  for (let i = 0, o = 0; i < pixels.length; i += channels, o += keep) pixels.copy(out, o, i, i + keep);
  return out;
};

// Keeps the first channel, and the alpha channel when there is one.
const toGrey = (pixels: Buffer, channels: number): Buffer => {
  const keep = channels === 4 ? 2 : 1;
  const out = Buffer.allocUnsafe((pixels.length / channels) * keep);
  for (let i = 0, o = 0; i < pixels.length; i += channels, o += keep) {
    out[o] = pixels[i] as number;
    if (keep === 2) out[o + 1] = pixels[i + 3] as number;
  }
  return out;
};

interface SourceInput {
  readonly input: Buffer;
  readonly header: Header;
  readonly plan: Plan;
  readonly limits: Limits;
  readonly keepFrames: boolean;
  readonly deadline: Deadline;
}

export const decodeSource = async ({
  input,
  header,
  plan,
  limits,
  keepFrames,
  deadline,
}: SourceInput): Promise<Source> => {
  const frames = keepFrames ? header.frames : 1;
  // Everything up to the colour conversion: shared by the decode and by keep-all encodes.
  const steps = (): Sharp => {
    let img = sharp(input, {
      autoOrient: true,
      animated: keepFrames,
      limitInputPixels: limits.maxPixels,
      failOn: "truncated",
      sequentialRead: true,
    }).timeout({ seconds: deadline.seconds() });
    if (plan.resize) img = img.resize(resizeOptions(plan.resize, header.hasAlpha));
    return img;
  };
  const decoded = await deadline
    .run(steps().toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true }))
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
    pixels = dropAlpha(pixels, channels);
    channels = (channels - 1) as 1 | 3;
    hasAlpha = false;
  }
  // Grey content (a grey input, or RGB with no colour) encodes smaller as one channel in every format.
  if (channels >= 3 && neutral(pixels, channels)) {
    pixels = toGrey(pixels, channels);
    channels = (channels === 4 ? 2 : 1) as 1 | 2;
  }
  const raw = { width, height: height * frames, channels, ...(frames > 1 ? { pageHeight: height } : {}) };
  // Without an explicit grey colourspace sharp would write one or two channels back out as sRGB.
  const fromPixels = (): Sharp =>
    channels <= 2 ? sharp(pixels, { raw }).toColourspace("b-w") : sharp(pixels, { raw });
  const copyright = readCopyright(header.exif);
  const pipeline =
    plan.metadata === "keep-all"
      ? () => {
          const img = steps().keepMetadata();
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
    pipeline,
  };
};
