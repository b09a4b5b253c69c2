import { ImageFormat } from "@imgc/proto";
import sharp, { type ResizeOptions, type Sharp, type SharpOptions } from "sharp";
import type { Deadline } from "./deadline.js";
import type { Header } from "./header.js";
import type { Limits } from "./limits.js";
import type { Plan, ResizePlan } from "./plan.js";

/** Everything the engine knows about one image before touching its pixels. */
export interface InputContext {
  readonly input: Buffer;
  readonly header: Header;
  readonly plan: Plan;
  readonly limits: Limits;
  /** Decode every frame (the output stays animated) or the first only. */
  readonly keepFrames: boolean;
  readonly deadline: Deadline;
}

// The background a contain-fit letterbox is filled with: transparent when the image has alpha.
const resizeOptions = (r: ResizePlan, hasAlpha: boolean): ResizeOptions => ({
  ...(r.maxWidth > 0 ? { width: r.maxWidth } : {}),
  ...(r.maxHeight > 0 ? { height: r.maxHeight } : {}),
  fit: r.fit,
  withoutEnlargement: !r.allowEnlarge,
  background: hasAlpha ? { r: 0, g: 0, b: 0, alpha: 0 } : { r: 255, g: 255, b: 255, alpha: 1 },
});

/**
 * How damaged data may be before decoding fails (libvips' fail-on levels). JPEG: "warning". libjpeg reports
 * corrupt entropy-coded data (flipped bits, a stray marker) only as a warning and goes on to decode visibly
 * wrong pixels, so at any lower level such a file would come out DONE. A JPEG that draws any libjpeg warning
 * fails CORRUPT_INPUT, the warning named. Other formats: "truncated". Their decoders report corruption as an
 * error (PNG checks a CRC per chunk, WebP and AVIF fail a bad bitstream), while their warnings are mostly
 * harmless (libpng's "known incorrect sRGB profile") and would fail good files.
 */
export const failOn = (format: ImageFormat): SharpOptions["failOn"] =>
  format === ImageFormat.JPEG ? "warning" : "truncated";

/**
 * A fresh pipeline over the input with the geometry applied: EXIF orientation, resize. Decoding is guarded
 * by sharp's own pixel limit too, fails on damaged data (see failOn), and stops at the deadline.
 */
export const openInput = ({ input, header, plan, limits, keepFrames, deadline }: InputContext): Sharp => {
  const img = sharp(input, {
    autoOrient: true,
    animated: keepFrames,
    limitInputPixels: limits.maxPixels,
    failOn: failOn(header.format),
    sequentialRead: true,
  }).timeout({ seconds: deadline.seconds() });
  return plan.resize ? img.resize(resizeOptions(plan.resize, header.hasAlpha)) : img;
};

export const isGrey = (header: Header): boolean => header.space === "b-w" || header.space === "grey16";
