import { existsSync, readFileSync } from "node:fs";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import type { Pixels } from "./ssim.js";
import { createBlur, createScorer, ssimulacra2 } from "./ssimulacra2.js";
import { corpusFile, pixelsOf } from "./test-support.js";

// Small crops keep the suite quick; the metric's cost is linear in pixels.
const crops = ["photos/rocket.jpg", "photos/coffee.png", "photos/motorcycle_left.png", "photos/astronaut.png"];
let sources: Buffer[];
beforeAll(async () => {
  sources = await Promise.all(
    crops.map((f) => sharp(corpusFile(f)).resize(256, 256, { fit: "cover" }).png().toBuffer()),
  );
});

const jpeg = (src: Buffer, quality: number, chroma: "4:2:0" | "4:4:4") =>
  sharp(src).jpeg({ quality, chromaSubsampling: chroma }).toBuffer();

describe("SSIMULACRA 2", () => {
  it("scores an image against itself 100", async () => {
    const px = await pixelsOf(sources[0] as Buffer);
    expect(ssimulacra2(px, px)).toBe(100);
  });

  it("blurs with the reference's recursive Gaussian: an impulse spreads as a σ 1.5 Gaussian", () => {
    const w = 41;
    const impulse = new Float32Array(w * w);
    impulse[20 * w + 20] = 1;
    const out = new Float32Array(w * w);
    createBlur(w, w)(impulse, out, w, w);
    let sum = 0;
    let worst = 0;
    for (let y = 0; y < w; y++) {
      for (let x = 0; x < w; x++) {
        const g = Math.exp(-((x - 20) ** 2 + (y - 20) ** 2) / (2 * 1.5 ** 2)) / (2 * Math.PI * 1.5 ** 2);
        worst = Math.max(worst, Math.abs((out[y * w + x] as number) - g));
        sum += out[y * w + x] as number;
      }
    }
    // The third-order IIR filter is an approximation: within 1% of the peak (0.0707) everywhere.
    expect(worst).toBeLessThan(0.0008);
    expect(sum).toBeCloseTo(1, 5);
  });

  it("falls as JPEG quality falls, on every image", async () => {
    for (const src of sources) {
      const scorer = createScorer(await pixelsOf(src));
      const scores: number[] = [];
      for (const q of [95, 80, 60, 40, 20, 5]) scores.push(scorer.score(await pixelsOf(await jpeg(src, q, "4:2:0"))));
      for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThan(scores[i - 1] as number);
    }
  });

  it("lands near the scale its authors published for libjpeg (q70 4:2:0 ≈ 70, q90 4:4:4 ≈ 85, q95 4:4:4 ≈ 90)", async () => {
    // ssimulacra2's README gives typical scores of libjpeg-turbo outputs; these are averages over 4 photos.
    const anchors = [
      { quality: 70, chroma: "4:2:0", score: 70 },
      { quality: 90, chroma: "4:4:4", score: 85 },
      { quality: 95, chroma: "4:4:4", score: 90 },
    ] as const;
    for (const a of anchors) {
      let total = 0;
      for (const src of sources)
        total += ssimulacra2(await pixelsOf(src), await pixelsOf(await jpeg(src, a.quality, a.chroma)));
      expect(Math.abs(total / sources.length - a.score)).toBeLessThan(4);
    }
  });

  it("composites alpha onto white: invisible pixels do not count", () => {
    const n = 16 * 16;
    const clear = new Uint8Array(n * 4); // transparent black
    const white = new Uint8Array(n * 3).fill(255);
    const a: Pixels = { data: clear, width: 16, height: 16, channels: 4 };
    const b: Pixels = { data: white, width: 16, height: 16, channels: 3 };
    expect(ssimulacra2(a, b)).toBe(100);
  });

  it("treats grey as equal R, G and B", async () => {
    const grey = await sharp(sources[1] as Buffer)
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const one: Pixels = { data: grey.data, width: 256, height: 256, channels: 1 };
    const three = Buffer.alloc(256 * 256 * 3);
    for (let i = 0; i < 256 * 256; i++) three.fill(grey.data[i] as number, 3 * i, 3 * i + 3);
    expect(ssimulacra2(one, { data: three, width: 256, height: 256, channels: 3 })).toBe(100);
  });

  it("refuses images of different sizes or under 8×8", () => {
    const px = (w: number, h: number): Pixels => ({
      data: new Uint8Array(w * h * 3),
      width: w,
      height: h,
      channels: 3,
    });
    expect(() => ssimulacra2(px(16, 16), px(16, 17))).toThrow(/equal sizes/);
    expect(() => ssimulacra2(px(7, 16), px(7, 16))).toThrow(/8×8/);
  });

  // The published reference pair (rust-av/ssimulacra2's test_data: tank_source.png and tank_distorted.png,
  // score 17.398505 from the reference tool; BSD-2). Too large to keep here: point SSIMULACRA2_REFERENCE at a
  // folder holding both to run it. Measured when this was written: 17.51 with the distorted image decoded at
  // 16 bits and truncated to 8, 17.23 rounded.
  const reference = process.env.SSIMULACRA2_REFERENCE;
  it.skipIf(!reference || !existsSync(`${reference}/tank_source.png`))(
    "matches the reference tool on its published pair within 0.5",
    async () => {
      const read = (name: string) => pixelsOf(readFileSync(`${reference}/${name}`));
      expect(
        Math.abs(ssimulacra2(await read("tank_source.png"), await read("tank_distorted.png")) - 17.3985),
      ).toBeLessThan(0.5);
    },
  );
});
