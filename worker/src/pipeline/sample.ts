import type { Pixels, Rect } from "./ssim.js";

/**
 * The reduced copy a perceptual search encodes: an even grid of tiles cut from the image at native resolution
 * and laid side by side. Native resolution matters (shrinking hides the blocking and ringing a viewer sees at
 * 100%); tiles start on a 16-pixel grid, so JPEG's and WebP's blocks fall where they fall in the full image.
 */
export interface Sample {
  /** Where each tile comes from, in the image, row by row. */
  readonly rects: readonly Rect[];
  readonly tile: number;
  readonly across: number;
  readonly down: number;
}

const TILE = 128;
/** Up to this many pixels, the image is its own sample: no tiling, no confirming at full size. */
export const WHOLE_PIXELS = 512 * 512;
/** The sample's size: about a twelfth of the image, between 4 and 16 tiles. */
const MIN_TILES = 4;
const MAX_TILES = 16;

const on16 = (v: number): number => Math.floor(v / 16) * 16;

/** The tiles of an image too large to search whole; undefined when the image is its own sample. */
export const sampleOf = (width: number, height: number): Sample | undefined => {
  const pixels = width * height;
  if (pixels <= WHOLE_PIXELS || width < 2 * TILE || height < 2 * TILE) return undefined;
  const wanted = Math.min(MAX_TILES, Math.max(MIN_TILES, Math.round(pixels / 12 / (TILE * TILE))));
  const across = Math.max(1, Math.min(Math.floor(width / TILE), Math.round(Math.sqrt((wanted * width) / height))));
  const down = Math.max(1, Math.min(Math.floor(height / TILE), Math.round(wanted / across)));
  const at = (i: number, n: number, size: number) =>
    n === 1 ? on16((size - TILE) / 2) : on16(Math.round((i * (size - TILE)) / (n - 1)));
  const rects: Rect[] = [];
  for (let j = 0; j < down; j++) {
    for (let i = 0; i < across; i++)
      rects.push({ left: at(i, across, width), top: at(j, down, height), width: TILE, height: TILE });
  }
  return { rects, tile: TILE, across, down };
};

/** The sample's tiles cut from `pixels` (the image or an encoded version of it, decoded) and laid side by side. */
export const mosaicOf = (pixels: Pixels, sample: Sample): Pixels => {
  const { tile, across, down } = sample;
  const { channels, width } = pixels;
  const outWidth = across * tile;
  const data = Buffer.allocUnsafe(outWidth * down * tile * channels);
  sample.rects.forEach((r, k) => {
    const ox = (k % across) * tile;
    const oy = Math.floor(k / across) * tile;
    for (let y = 0; y < tile; y++) {
      const from = ((r.top + y) * width + r.left) * channels;
      data.set(pixels.data.subarray(from, from + tile * channels), ((oy + y) * outWidth + ox) * channels);
    }
  });
  return { data, width: outWidth, height: down * tile, channels };
};
