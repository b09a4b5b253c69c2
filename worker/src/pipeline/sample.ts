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
/**
 * The sample's size: about a sixteenth of the image, between 6 and 12 tiles. Scoring it costs about as much
 * CPU as a WebP encode of 7 times as many pixels, and a search scores it 4–7 times.
 */
const SHARE = 16;
const MIN_TILES = 6;
const MAX_TILES = 12;

/**
 * The tiles of an image too large to search whole, or undefined when the image is its own sample. The tiles are
 * chosen by detail, at evenly spaced ranks among all the image's tiles: flat sky and busy texture in the
 * proportions the image has them. An evenly spaced grid can miss the one busy region (a test pattern's text)
 * that decides the score.
 */
export const sampleOf = (pixels: Pixels): Sample | undefined => {
  const { width, height } = pixels;
  const across = Math.floor(width / TILE);
  const down = Math.floor(height / TILE);
  const count = across * down;
  if (width * height <= WHOLE_PIXELS || count < MIN_TILES) return undefined;
  const wanted = Math.min(count, MAX_TILES, Math.max(MIN_TILES, Math.round((width * height) / SHARE / (TILE * TILE))));
  // Centre the grid; tile corners stay on the 16-pixel block grid of the full image.
  const left0 = Math.floor((width - across * TILE) / 32) * 16;
  const top0 = Math.floor((height - down * TILE) / 32) * 16;
  const tiles: { rect: Rect; detail: number }[] = [];
  for (let j = 0; j < down; j++) {
    for (let i = 0; i < across; i++) {
      const rect = { left: left0 + i * TILE, top: top0 + j * TILE, width: TILE, height: TILE };
      tiles.push({ rect, detail: detailOf(pixels, rect) });
    }
  }
  tiles.sort((a, b) => a.detail - b.detail);
  const rects: Rect[] = [];
  // Ranks (k + 1) / wanted: the busiest tile is always in, since artifacts there weigh most (the 4-norms).
  for (let k = 0; k < wanted; k++) {
    rects.push((tiles[Math.ceil(((k + 1) * tiles.length) / wanted) - 1] as (typeof tiles)[0]).rect);
  }
  const cols = Math.ceil(Math.sqrt(wanted));
  return { rects, tile: TILE, across: cols, down: Math.ceil(wanted / cols) };
};

// The mean absolute difference between neighbours (every other pixel, first channel): how busy a tile is.
const detailOf = (pixels: Pixels, rect: Rect): number => {
  const { data, width, channels } = pixels;
  let sum = 0;
  for (let y = rect.top; y < rect.top + rect.height - 1; y += 2) {
    for (let x = rect.left; x < rect.left + rect.width - 1; x += 2) {
      const at = (y * width + x) * channels;
      const v = data[at] as number;
      sum += Math.abs(v - (data[at + channels] as number)) + Math.abs(v - (data[at + width * channels] as number));
    }
  }
  return sum;
};

/** The sample's tiles cut from `pixels` (the image or an encoded version of it, decoded) and laid side by side. */
export const mosaicOf = (pixels: Pixels, sample: Sample): Pixels => {
  const { tile, across, down } = sample;
  const { channels, width } = pixels;
  const outWidth = across * tile;
  // A short last row repeats the first tiles, so the mosaic is a full rectangle.
  const data = Buffer.allocUnsafe(outWidth * down * tile * channels);
  const rects = Array.from({ length: across * down }, (_, k) => sample.rects[k % sample.rects.length] as Rect);
  rects.forEach((r, k) => {
    const ox = (k % across) * tile;
    const oy = Math.floor(k / across) * tile;
    for (let y = 0; y < tile; y++) {
      const from = ((r.top + y) * width + r.left) * channels;
      data.set(pixels.data.subarray(from, from + tile * channels), ((oy + y) * outWidth + ox) * channels);
    }
  });
  return { data, width: outWidth, height: down * tile, channels };
};
