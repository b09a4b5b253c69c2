import sharp, { type ResizeOptions, type Sharp } from "sharp";
import type { Deadline } from "./deadline.js";
import { classify } from "./errors.js";
import { formatInfo } from "./formats.js";
import type { Header } from "./header.js";
import type { Limits } from "./limits.js";
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
  /** A fresh sharp pipeline over these pixels (or, under keep-all, over the input with the same steps). */
  readonly pipeline: () => Sharp;
}

const isGrey = (space: string): boolean => space === "b-w" || space === "grey16";

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
  const grey = isGrey(header.space);
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
    .run(
      steps()
        .toColourspace(grey ? "b-w" : "srgb")
        .raw({ depth: "uchar" })
        .toBuffer({ resolveWithObject: true }),
    )
    .catch((e: unknown) => {
      throw classify(e, formatInfo(header.format).name);
    });
  let { data: pixels } = decoded;
  let channels = decoded.info.channels as 1 | 2 | 3 | 4;
  const width = decoded.info.width;
  const height = Math.floor(decoded.info.height / frames);
  // An alpha channel that is opaque everywhere costs bytes in every format and rules JPEG out: drop it.
  let hasAlpha = channels === 2 || channels === 4;
  if (hasAlpha && opaque(pixels, channels)) {
    pixels = await sharp(pixels, { raw: { width, height: height * frames, channels } })
      .removeAlpha()
      .raw()
      .toBuffer();
    channels = (channels - 1) as 1 | 3;
    hasAlpha = false;
  }
  const raw = { width, height: height * frames, channels, ...(frames > 1 ? { pageHeight: height } : {}) };
  const pipeline =
    plan.metadata === "keep-all"
      ? () => {
          const img = steps().keepMetadata();
          return hasAlpha || !header.hasAlpha ? img : img.removeAlpha();
        }
      : () => sharp(pixels, { raw });
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
