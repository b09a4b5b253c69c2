import { ErrorCode } from "@imgc/proto";
import { fail } from "./errors.js";
import type { Header } from "./header.js";
import type { Limits } from "./limits.js";
import type { ResizePlan } from "./plan.js";

/**
 * The size of the output sharp will make of an image of `width`×`height` (upright) under the resize plan, from
 * the numbers alone. It follows sharp's rules fit by fit, including the surprising ones: contain letterboxes to
 * the whole box even when enlargement is off, and fill stretches one axis to a single given dimension.
 * Rounding may put it a pixel above what sharp makes, never below.
 */
export const outputSize = (
  width: number,
  height: number,
  r: ResizePlan | undefined,
): { width: number; height: number } => {
  if (!r) return { width, height };
  const W = r.maxWidth;
  const H = r.maxHeight;
  const clamp = (s: number) => (r.allowEnlarge ? s : Math.min(s, 1));
  const scaled = (s: number) => ({ width: Math.ceil(width * s), height: Math.ceil(height * s) });
  // One dimension given: the other follows the aspect ratio, whatever the fit (fill aside).
  const byOne = W > 0 ? W / width : H / height;
  if (W === 0 || H === 0) {
    if (r.fit === "fill") {
      return W > 0
        ? { width: r.allowEnlarge ? W : Math.min(W, width), height }
        : { width, height: r.allowEnlarge ? H : Math.min(H, height) };
    }
    const s = scaled(clamp(byOne));
    // contain pads the given axis to the requested size even without enlargement.
    if (r.fit === "contain")
      return W > 0 ? { ...s, width: Math.max(s.width, W) } : { ...s, height: Math.max(s.height, H) };
    return s;
  }
  switch (r.fit) {
    case "inside":
      return scaled(clamp(Math.min(W / width, H / height)));
    case "outside":
      return scaled(clamp(Math.max(W / width, H / height)));
    case "contain":
      return { width: W, height: H };
    case "cover":
    case "fill":
      return r.allowEnlarge ? { width: W, height: H } : { width: Math.min(W, width), height: Math.min(H, height) };
  }
};

const mp = (pixels: number): string => `${(pixels / 1_000_000).toFixed(1)} megapixels`;

/**
 * Fails an item whose output would exceed the pixel limit, before anything is decoded: a 90-byte 1×1 PNG
 * resized to fill 11500×11500 would otherwise make a 132-megapixel image (and an animation kept animated
 * multiplies that by its frames).
 */
export const checkOutputSize = (
  header: Header,
  resize: ResizePlan | undefined,
  limits: Limits,
  frames: number,
): void => {
  if (!resize) return;
  const turned = header.orientation >= 5;
  const out = outputSize(turned ? header.height : header.width, turned ? header.width : header.height, resize);
  const pixels = out.width * out.height;
  if (pixels * frames > limits.maxPixels) {
    fail(
      ErrorCode.PIXEL_LIMIT,
      `The output would be ${out.width}×${out.height}${frames > 1 ? ` × ${frames} frames` : ""} (${mp(pixels * frames)}), over the limit of ${mp(limits.maxPixels)}`,
    );
  }
};
