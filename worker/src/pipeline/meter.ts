import sharp from "sharp";
import type { Deadline } from "./deadline.js";
import { classify } from "./errors.js";
import type { Source } from "./source.js";
import { type Luma, lumaOf, sampleRects, ssim } from "./ssim.js";

/** Measures encoded candidates against the source, whose luminance is computed once. */
export interface Meter {
  ssim(encoded: Buffer): Promise<number>;
}

export const createMeter = (source: Source, deadline: Deadline): Meter => {
  const { pixels, width, height, frames, channels } = source;
  // Frames stay stacked as one tall image on both sides.
  const rects = sampleRects(width, height * frames);
  let reference: Luma[] | undefined;
  const measure = async (encoded: Buffer): Promise<number> => {
    reference ??= rects.map((r) => lumaOf({ data: pixels, width, height: height * frames, channels }, r));
    const { data, info } = await sharp(encoded, { animated: frames > 1, limitInputPixels: false })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height * frames) {
      throw new Error(`The encoded image is ${info.width}×${info.height}, the source ${width}×${height * frames}`);
    }
    const decoded = { data, width: info.width, height: info.height, channels: info.channels };
    let total = 0;
    rects.forEach((r, i) => {
      total += ssim(reference?.[i] as Luma, lumaOf(decoded, r));
    });
    return total / rects.length;
  };
  return {
    ssim: (encoded) =>
      deadline.run(measure(encoded)).catch((e: unknown) => {
        throw classify(e);
      }),
  };
};
