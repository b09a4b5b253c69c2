/** A greyscale image as floating-point luminance, row by row. */
export interface Luma {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

// Wang, Bovik, Sheikh & Simoncelli (2004): an 11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255.
const RADIUS = 5;
const SIGMA = 1.5;
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

const WINDOW: Float64Array = (() => {
  const w = new Float64Array(2 * RADIUS + 1);
  let sum = 0;
  for (let i = -RADIUS; i <= RADIUS; i++) {
    w[i + RADIUS] = Math.exp(-(i * i) / (2 * SIGMA * SIGMA));
    sum += w[i + RADIUS] ?? 0;
  }
  return w.map((v) => v / sum);
})();

/**
 * The mean SSIM of two equally sized luminance images (values 0–255), over every 11×11 window that fits
 * ("valid" mode). An image smaller than one window is compared as a single window with uniform weights.
 */
export const ssim = (a: Luma, b: Luma): number => {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`SSIM needs equal sizes, got ${a.width}×${a.height} and ${b.width}×${b.height}`);
  }
  const { width, height } = a;
  const size = 2 * RADIUS + 1;
  if (width < size || height < size) return globalSsim(a.data, b.data, width * height);
  // Indexing is in bounds by construction: `as number` keeps the hot loops free of undefined checks.
  const x = a.data;
  const y = b.data;
  const w = WINDOW;
  const ow = width - size + 1;
  const oh = height - size + 1;
  // Horizontal pass: the five weighted sums (x, y, x², y², xy) of each row's windows.
  const hx = new Float64Array(ow * height);
  const hy = new Float64Array(ow * height);
  const hxx = new Float64Array(ow * height);
  const hyy = new Float64Array(ow * height);
  const hxy = new Float64Array(ow * height);
  for (let r = 0; r < height; r++) {
    const row = r * width;
    for (let c = 0; c < ow; c++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let k = 0; k < size; k++) {
        const p = x[row + c + k] as number;
        const q = y[row + c + k] as number;
        const wk = w[k] as number;
        sx += wk * p;
        sy += wk * q;
        sxx += wk * p * p;
        syy += wk * q * q;
        sxy += wk * p * q;
      }
      const o = r * ow + c;
      hx[o] = sx;
      hy[o] = sy;
      hxx[o] = sxx;
      hyy[o] = syy;
      hxy[o] = sxy;
    }
  }
  // Vertical pass, one output row at a time, straight into the SSIM sum.
  const vx = new Float64Array(ow);
  const vy = new Float64Array(ow);
  const vxx = new Float64Array(ow);
  const vyy = new Float64Array(ow);
  const vxy = new Float64Array(ow);
  let total = 0;
  for (let r = 0; r < oh; r++) {
    vx.fill(0);
    vy.fill(0);
    vxx.fill(0);
    vyy.fill(0);
    vxy.fill(0);
    for (let k = 0; k < size; k++) {
      const wk = w[k] as number;
      const row = (r + k) * ow;
      for (let c = 0; c < ow; c++) {
        vx[c] = (vx[c] as number) + wk * (hx[row + c] as number);
        vy[c] = (vy[c] as number) + wk * (hy[row + c] as number);
        vxx[c] = (vxx[c] as number) + wk * (hxx[row + c] as number);
        vyy[c] = (vyy[c] as number) + wk * (hyy[row + c] as number);
        vxy[c] = (vxy[c] as number) + wk * (hxy[row + c] as number);
      }
    }
    for (let c = 0; c < ow; c++) {
      const ux = vx[c] as number;
      const uy = vy[c] as number;
      const sx = (vxx[c] as number) - ux * ux;
      const sy = (vyy[c] as number) - uy * uy;
      const sxy = (vxy[c] as number) - ux * uy;
      total += ((2 * ux * uy + C1) * (2 * sxy + C2)) / ((ux * ux + uy * uy + C1) * (sx + sy + C2));
    }
  }
  return total / (ow * oh);
};

const globalSsim = (a: Float32Array, b: Float32Array, n: number): number => {
  let ux = 0;
  let uy = 0;
  for (let i = 0; i < n; i++) {
    ux += a[i] ?? 0;
    uy += b[i] ?? 0;
  }
  ux /= n;
  uy /= n;
  let vx = 0;
  let vy = 0;
  let cxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (a[i] ?? 0) - ux;
    const dy = (b[i] ?? 0) - uy;
    vx += dx * dx;
    vy += dy * dy;
    cxy += dx * dy;
  }
  vx /= n;
  vy /= n;
  cxy /= n;
  return ((2 * ux * uy + C1) * (2 * cxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
};

/** Decoded pixels, 8 bits per channel, interleaved (1: grey, 2: grey+alpha, 3: RGB, 4: RGBA). */
export interface Pixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

export interface Rect {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Images up to this many pixels are measured whole; larger ones through tiles adding up to about this much. */
export const SAMPLE_PIXELS = 512 * 512;
const TILE = 128;

/**
 * Where SSIM is measured: the whole image when it is small, else an even grid of 128×128 tiles at native
 * resolution adding up to about 512×512 pixels. Native resolution matters: shrinking first hides exactly the
 * blocking and ringing a viewer sees at 100%, so a shrunk SSIM of 0.98 passes a quality-2 WebP of a 4K photo.
 * The tiles are a fixed, evenly spread sample, so the measurement is deterministic and its cost is bounded.
 */
export const sampleRects = (width: number, height: number): Rect[] => {
  if (width * height <= 2 * SAMPLE_PIXELS || width < TILE || height < TILE) return [{ left: 0, top: 0, width, height }];
  const wanted = SAMPLE_PIXELS / (TILE * TILE);
  // Spread the tiles in proportion to the image's aspect ratio.
  let across = Math.max(1, Math.min(Math.floor(width / TILE), Math.round(Math.sqrt((wanted * width) / height))));
  const down = Math.max(1, Math.min(Math.floor(height / TILE), Math.round(wanted / across)));
  across = Math.max(1, Math.min(Math.floor(width / TILE), Math.round(wanted / down)));
  const at = (i: number, n: number, size: number) =>
    n === 1 ? Math.floor((size - TILE) / 2) : Math.round((i * (size - TILE)) / (n - 1));
  const rects: Rect[] = [];
  for (let j = 0; j < down; j++) {
    for (let i = 0; i < across; i++)
      rects.push({ left: at(i, across, width), top: at(j, down, height), width: TILE, height: TILE });
  }
  return rects;
};

/**
 * The luminance (BT.601, as JPEG and WebP encode it) of one rectangle. Alpha is composited onto white, so
 * that what an encoder does to invisible pixels does not count.
 */
export const lumaOf = (pixels: Pixels, rect: Rect): Luma => {
  const { data, width, channels } = pixels;
  const out = new Float32Array(rect.width * rect.height);
  const alpha = channels === 2 || channels === 4;
  for (let y = 0; y < rect.height; y++) {
    let at = ((rect.top + y) * width + rect.left) * channels;
    const row = y * rect.width;
    for (let x = 0; x < rect.width; x++, at += channels) {
      const l =
        channels >= 3
          ? 0.299 * (data[at] as number) + 0.587 * (data[at + 1] as number) + 0.114 * (data[at + 2] as number)
          : (data[at] as number);
      const a = alpha ? (data[at + channels - 1] as number) / 255 : 1;
      out[row + x] = a * l + (1 - a) * 255;
    }
  }
  return { width: rect.width, height: rect.height, data: out };
};
