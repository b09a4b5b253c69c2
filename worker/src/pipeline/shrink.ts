import { ErrorCode, SHRINK_MIN_SIDE } from "@imgc/proto";
import { ItemError } from "../item-error.js";
import type { ResizePlan } from "./plan.js";
import { type Candidate, OverBudget } from "./targets.js";

/** A result that had to shrink, and the size it would have had otherwise. */
export interface Shrunk {
  readonly best: Candidate;
  readonly from?: { readonly width: number; readonly height: number };
}

/**
 * At most this many sizes after the full one. The first estimate usually fits; each miss re-estimates from
 * its own overshoot, and the last step is clamped to SHRINK_MIN_SIDE, so the floor is always tried.
 */
const MAX_STEPS = 6;

/** Aiming a little under the budget makes an estimate fit more often than not, saving a step. */
const AIM = 0.9;

/**
 * Bytes follow pixels^k with k below 1: a smaller image has more detail per pixel (on the bike photo k is about
 * 0.72 for WebP, 0.8 for JPEG). The first estimate takes 0.75; each miss after it measures k from the last two
 * sizes.
 */
const FIRST_EXPONENT = 0.75;

/**
 * The job's resize box scaled to `width`×`height`, the output size wanted. It keeps the job's fit, so a
 * cover crop, a contain letterbox or a fill stretch shrinks as a whole; without a box, the image fits inside.
 */
export const shrunkResize = (resize: ResizePlan | undefined, width: number, height: number): ResizePlan => ({
  fit: resize?.fit ?? "inside",
  allowEnlarge: resize?.allowEnlarge ?? false,
  maxWidth: width,
  maxHeight: height,
});

/**
 * CompressionOptions.shrink_to_fit: `attempt` reaches the byte budget at the job's own resize (undefined) and
 * then, while it misses (OverBudget), at smaller sizes. Bytes follow pixels (roughly pixels^k), so each size is
 * the last one scaled to bring the smallest output under the budget, rather than a blind halving: usually one
 * size, each a single encode per format when it misses. The aspect ratio is kept; the
 * short side never goes below SHRINK_MIN_SIDE, where the item fails naming the smallest output reached.
 */
export const shrinkToFit = async (
  attempt: (resize: ResizePlan | undefined) => Promise<Candidate>,
  resize: ResizePlan | undefined,
  maxBytes: number,
): Promise<Shrunk> => {
  let miss: OverBudget;
  try {
    return { best: await attempt(resize) };
  } catch (e) {
    if (!OverBudget.is(e)) throw e;
    miss = e;
  }
  const from = { width: miss.width, height: miss.height };
  let exponent = FIRST_EXPONENT;
  for (let step = 0; step < MAX_STEPS; step++) {
    const short = Math.min(miss.width, miss.height);
    if (short <= SHRINK_MIN_SIDE) break;
    // The area ratio that brings the bytes to the aim, as a ratio of sides.
    const estimate = ((maxBytes * AIM) / miss.smallest) ** (1 / (2 * exponent));
    // At least 5% a step (an overshoot of a few bytes would otherwise creep), never under the floor.
    const scale = Math.max(Math.min(estimate, 0.95), SHRINK_MIN_SIDE / short);
    const width = Math.max(1, Math.round(miss.width * scale));
    const height = Math.max(1, Math.round(miss.height * scale));
    try {
      return { best: await attempt(shrunkResize(resize, width, height)), from };
    } catch (e) {
      if (!OverBudget.is(e)) throw e;
      const pixels = e.width * e.height;
      const before = miss.width * miss.height;
      // Measured between the two sizes; kept within reason, since encoders are not smooth at the margin.
      if (pixels < before && e.smallest < miss.smallest)
        exponent = Math.min(1, Math.max(0.4, Math.log(e.smallest / miss.smallest) / Math.log(pixels / before)));
      miss = e;
    }
  }
  const stop = `shrink to fit stops at ${SHRINK_MIN_SIDE} pixels on the short side`;
  throw new ItemError(
    ErrorCode.INVALID_OPTIONS,
    miss.width === from.width && miss.height === from.height
      ? `${miss.message}, at ${from.width}×${from.height}, which cannot shrink (${stop})`
      : `${miss.message}, even shrunk from ${from.width}×${from.height} to ${miss.width}×${miss.height} (${stop})`,
  );
};
