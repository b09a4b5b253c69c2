import { describe, expect, it } from "vitest";
import { type Luma, lumaOf, sampleRects, ssim } from "./ssim.js";

const image = (width: number, height: number, f: (x: number, y: number) => number): Luma => {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { width, height, data };
};

// A deterministic pseudo-random generator, so the fixtures never change.
const random = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};

const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

// SSIM straight from Wang et al.'s definition: for every window, the Gaussian-weighted statistics computed
// directly in two dimensions. Slow and obviously right; the engine's separable version must agree with it.
const referenceSsim = (a: Luma, b: Luma): number => {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)));
  const sum = g.reduce((s, v) => s + v, 0);
  const w = g.map((v) => v / sum);
  let total = 0;
  let count = 0;
  for (let y0 = 0; y0 + 11 <= a.height; y0++) {
    for (let x0 = 0; x0 + 11 <= a.width; x0++) {
      let ux = 0;
      let uy = 0;
      for (let j = 0; j < 11; j++) {
        for (let i = 0; i < 11; i++) {
          const k = (y0 + j) * a.width + x0 + i;
          const wt = (w[i] ?? 0) * (w[j] ?? 0);
          ux += wt * (a.data[k] ?? 0);
          uy += wt * (b.data[k] ?? 0);
        }
      }
      let vx = 0;
      let vy = 0;
      let cxy = 0;
      for (let j = 0; j < 11; j++) {
        for (let i = 0; i < 11; i++) {
          const k = (y0 + j) * a.width + x0 + i;
          const wt = (w[i] ?? 0) * (w[j] ?? 0);
          const dx = (a.data[k] ?? 0) - ux;
          const dy = (b.data[k] ?? 0) - uy;
          vx += wt * dx * dx;
          vy += wt * dy * dy;
          cxy += wt * dx * dy;
        }
      }
      total += ((2 * ux * uy + C1) * (2 * cxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
      count++;
    }
  }
  return total / count;
};

describe("ssim", () => {
  it("is 1 for identical images", () => {
    const next = random(1);
    const a = image(40, 30, () => next() * 255);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
  });

  it("matches the closed form for two flat images: (2ab + C1) / (a² + b² + C1)", () => {
    const a = image(32, 24, () => 100);
    const b = image(32, 24, () => 140);
    expect(ssim(a, b)).toBeCloseTo((2 * 100 * 140 + C1) / (100 ** 2 + 140 ** 2 + C1), 10);
    // Known value: flat 100 against flat 140 is 0.945958… (the luminance term alone).
    expect(ssim(a, b)).toBeCloseTo(0.945958, 5);
  });

  it("agrees with a direct two-dimensional computation on noisy images", () => {
    const next = random(7);
    const a = image(37, 29, (x, y) => 128 + 80 * Math.sin(x / 3) * Math.cos(y / 5) + 30 * (next() - 0.5));
    const b = image(37, 29, (x, y) => (a.data[y * 37 + x] ?? 0) + 40 * (next() - 0.5));
    const expected = referenceSsim(a, b);
    expect(expected).toBeGreaterThan(0.3);
    expect(expected).toBeLessThan(0.99);
    expect(ssim(a, b)).toBeCloseTo(expected, 10);
  });

  it("is symmetric, falls as noise grows, and goes negative for an inverted image", () => {
    const next = random(3);
    const a = image(48, 48, () => 40 + next() * 170);
    const noisy = (amount: number) => image(48, 48, (x, y) => (a.data[y * 48 + x] ?? 0) + amount * (next() - 0.5));
    const light = noisy(20);
    const heavy = noisy(80);
    expect(ssim(a, light)).toBeCloseTo(ssim(light, a), 12);
    expect(ssim(a, light)).toBeGreaterThan(ssim(a, heavy));
    const inverted = image(48, 48, (x, y) => 255 - (a.data[y * 48 + x] ?? 0));
    expect(ssim(a, inverted)).toBeLessThan(-0.5);
  });

  it("compares images smaller than a window as one window", () => {
    const a = image(4, 4, () => 50);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
    expect(
      ssim(
        a,
        image(4, 4, () => 60),
      ),
    ).toBeCloseTo((2 * 50 * 60 + C1) / (50 ** 2 + 60 ** 2 + C1), 10);
  });

  it("rejects images of different sizes", () => {
    expect(() =>
      ssim(
        image(20, 20, () => 0),
        image(20, 21, () => 0),
      ),
    ).toThrow(/equal sizes/);
  });

  it("samples large images through an even grid of native-resolution tiles", () => {
    expect(sampleRects(600, 400)).toEqual([{ left: 0, top: 0, width: 600, height: 400 }]);
    const rects = sampleRects(3840, 2160);
    expect(rects.length).toBeGreaterThanOrEqual(14);
    expect(rects.length).toBeLessThanOrEqual(18);
    for (const r of rects) {
      expect([r.width, r.height]).toEqual([128, 128]);
      expect(r.left + r.width).toBeLessThanOrEqual(3840);
      expect(r.top + r.height).toBeLessThanOrEqual(2160);
    }
    expect(Math.min(...rects.map((r) => r.left))).toBe(0);
    expect(Math.max(...rects.map((r) => r.left + r.width))).toBe(3840);
    expect(sampleRects(5000, 120)).toEqual([{ left: 0, top: 0, width: 5000, height: 120 }]);
  });

  it("reads BT.601 luminance, with transparency composited onto white", () => {
    const rgba = {
      data: Uint8Array.from([255, 0, 0, 255, 0, 0, 0, 0, 0, 255, 0, 128]),
      width: 3,
      height: 1,
      channels: 4,
    };
    const l = lumaOf(rgba, { left: 0, top: 0, width: 3, height: 1 });
    expect(l.data[0]).toBeCloseTo(0.299 * 255, 4);
    expect(l.data[1]).toBeCloseTo(255, 4);
    expect(l.data[2]).toBeCloseTo((128 / 255) * 0.587 * 255 + (1 - 128 / 255) * 255, 3);
    const grey = { data: Uint8Array.from([10, 20, 30, 40]), width: 2, height: 2, channels: 1 };
    expect([...lumaOf(grey, { left: 1, top: 0, width: 1, height: 2 }).data]).toEqual([20, 40]);
  });
});
