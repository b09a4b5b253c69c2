import { ErrorCode, formatExactBytes } from "@imgc/proto";
import { fail } from "./errors.js";
import type { Header } from "./header.js";

/** The worker's guards against hostile or oversized inputs. */
export interface Limits {
  /** The largest input accepted, in bytes. */
  maxInputBytes: number;
  /** The most pixels of one frame, and of a whole animation kept animated. */
  maxPixels: number;
  /** The most animation frames an input may have. */
  maxFrames: number;
  /** The time budget of one image, from the start of compress(). */
  timeoutMs: number;
}

const mp = (pixels: number): string => `${(pixels / 1_000_000).toFixed(1)} megapixels`;

export const checkInputSize = (bytes: number, limits: Limits): void => {
  if (bytes > limits.maxInputBytes) {
    fail(
      ErrorCode.FILE_TOO_LARGE,
      `The file is ${formatExactBytes(bytes)}, over the limit of ${formatExactBytes(limits.maxInputBytes)}`,
    );
  }
};

/** Checked from the header, so that a tiny file declaring enormous dimensions is never decoded. */
export const checkHeader = (header: Header, limits: Limits, keepFrames: boolean): void => {
  const { width, height, frames } = header;
  if (width <= 0 || height <= 0) fail(ErrorCode.CORRUPT_INPUT, "The image header declares no dimensions");
  const pixels = width * height;
  if (pixels > limits.maxPixels) {
    fail(
      ErrorCode.PIXEL_LIMIT,
      `The image is ${width}×${height} (${mp(pixels)}), over the limit of ${mp(limits.maxPixels)}`,
    );
  }
  if (frames > limits.maxFrames) {
    fail(ErrorCode.FRAME_LIMIT, `The animation has ${frames} frames, over the limit of ${limits.maxFrames}`);
  }
  if (keepFrames && pixels * frames > limits.maxPixels) {
    fail(
      ErrorCode.FRAME_LIMIT,
      `The animation's ${frames} frames of ${width}×${height} add up to ${mp(pixels * frames)}, over the limit of ${mp(limits.maxPixels)}`,
    );
  }
};
