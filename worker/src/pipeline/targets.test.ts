import { ErrorCode, ImageFormat, type OutputFormat } from "@imgc/proto";
import sharp from "sharp";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { createDeadline } from "./deadline.js";
import * as encoder from "./encode.js";
import { readHeader } from "./header.js";
import { compress } from "./index.js";
import { createMeter } from "./meter.js";
import { SEARCH_AVIF_EFFORT } from "./perceptual.js";
import { planOf } from "./plan.js";
import { sampleOf } from "./sample.js";
import { decodeSource } from "./source.js";
import { lumaOf, ssim } from "./ssim.js";
import { createScorer } from "./ssimulacra2.js";
import { minSearchQuality, reachGoal } from "./targets.js";
import { corpusFile, failure, limits, options, pixelsOf } from "./test-support.js";

// A spy around the real encoder: the searches' cost is counted in encodes.
vi.mock("./encode.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("./encode.js")>();
  return { ...real, encode: vi.fn(real.encode) };
});
const encodes = vi.mocked(encoder.encode);

let small: Buffer;
let medium: Buffer;
beforeAll(async () => {
  small = await sharp(corpusFile("photos/coffee.png")).resize(200).png().toBuffer();
  // Large enough to be searched on a sample of tiles and confirmed at full size.
  medium = await sharp(corpusFile("photos/gainmap-3840x2160.jpg")).resize(960).png().toBuffer();
});

// SSIM over the whole image, not the tiles the search measured.
const wholeSsim = async (a: Buffer, b: Buffer): Promise<number> => {
  const [x, y] = [await pixelsOf(a), await pixelsOf(b)];
  const all = { left: 0, top: 0, width: x.width, height: x.height };
  return ssim(lumaOf(x, all), lumaOf(y, all));
};

// Full-size encodes start from the decoded source; sample encodes from the tiles.
const fullSizeEncodes = () => encodes.mock.calls.filter(([source]) => "pixels" in source).length;

describe("quality searches", () => {
  it("min SSIM spends at most 7 encodes per format", async () => {
    for (const minSsim of [0.9, 0.95, 0.99]) {
      encodes.mockClear();
      const out = await compress(
        small,
        options({ format: ImageFormat.JPEG, target: { goal: { case: "minSsim", value: minSsim } } }),
        limits,
      );
      expect(out.ssim).toBeGreaterThanOrEqual(minSsim);
      // Re-measured independently: the image is small enough that the search measured it whole too.
      expect(await wholeSsim(small, out.data)).toBeGreaterThanOrEqual(minSsim);
      expect(encodes.mock.calls.length).toBeLessThanOrEqual(7);
    }
  });

  it("min SSIM never goes below the format's quality floor, however smooth the image", async () => {
    const smooth = await sharp(corpusFile("edge/gradients.png")).resize(300).png().toBuffer();
    for (const format of [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF]) {
      const out = await compress(
        smooth,
        options({ format, target: { goal: { case: "minSsim", value: 0.5 } } }),
        limits,
      );
      expect(out.quality).toBe(minSearchQuality[format as OutputFormat]);
    }
  });

  it("max bytes spends at most 7 encodes per format", async () => {
    encodes.mockClear();
    const out = await compress(
      small,
      options({ format: ImageFormat.WEBP, target: { goal: { case: "maxBytes", value: 3000n } } }),
      limits,
    );
    expect(out.data.length).toBeLessThanOrEqual(3000);
    expect(encodes.mock.calls.length).toBeLessThanOrEqual(7);
  });

  it("AUTO under min SSIM spends at most 7 encodes per allowed format", async () => {
    encodes.mockClear();
    const out = await compress(small, options({ target: { goal: { case: "minSsim", value: 0.97 } } }), limits);
    expect(out.ssim).toBeGreaterThanOrEqual(0.97);
    expect(encodes.mock.calls.length).toBeLessThanOrEqual(14);
  });

  it("a min-SSIM search stops as soon as it cannot beat the size to beat", async () => {
    const plan = planOf(options({ target: { goal: { case: "minSsim", value: 0.99 } } }));
    const deadline = createDeadline(60_000);
    const header = await readHeader(small, ImageFormat.PNG);
    const source = await decodeSource({ input: small, header, plan, limits, keepFrames: false, deadline });
    const ctx = { source, plan, deadline, meter: createMeter(source, deadline) };
    encodes.mockClear();
    expect(await reachGoal(ImageFormat.WEBP, { ...ctx, sizeToBeat: 1 })).toBeUndefined();
    expect(encodes.mock.calls.length).toBe(1);
    encodes.mockClear();
    const free = await reachGoal(ImageFormat.WEBP, ctx);
    expect(free?.ssim).toBeGreaterThanOrEqual(0.99);
    expect(encodes.mock.calls.length).toBeGreaterThan(1);
  });

  it("a fixed quality is a single encode", async () => {
    encodes.mockClear();
    await compress(small, options({ format: ImageFormat.WEBP }), limits);
    expect(encodes.mock.calls.length).toBe(1);
  });
});

// Several searches and whole-image scores per test: minutes on a loaded 2-core machine, not seconds.
describe("perceptual searches (SSIMULACRA 2)", { timeout: 180_000 }, () => {
  it("search a sample, then spend at most 3 full-size encodes, and the whole output scores the target", async () => {
    expect(sampleOf(await pixelsOf(medium))).toBeDefined();
    const scorer = createScorer(await pixelsOf(medium));
    for (const format of [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF]) {
      encodes.mockClear();
      // 75: lossy WebP's 4:2:0 tops out near 80 on this photo, even at quality 100.
      const out = await compress(
        medium,
        options({ format, target: { goal: { case: "minScore", value: 75 } } }),
        limits,
      );
      expect(out.format).toBe(format);
      expect(out.score).toBeGreaterThanOrEqual(75);
      expect(fullSizeEncodes()).toBeGreaterThanOrEqual(1);
      expect(fullSizeEncodes()).toBeLessThanOrEqual(3);
      // The engine confirms on the tiles of the full-size output; over the whole image the score may differ
      // by the sample's error, which the search's margin covers.
      expect(scorer.score(await pixelsOf(out.data))).toBeGreaterThanOrEqual(74);
    }
  });

  it("AUTO's default target: at least the whole-image score of a plain q80 JPEG, searching AVIF at libaom speed SEARCH_AVIF_EFFORT", async () => {
    encodes.mockClear();
    const out = await compress(medium, options(), limits);
    const scorer = createScorer(await pixelsOf(medium));
    const plain = await sharp(medium).jpeg({ quality: 80 }).toBuffer();
    expect(scorer.score(await pixelsOf(out.data))).toBeGreaterThanOrEqual(scorer.score(await pixelsOf(plain)));
    expect(out.data.length).toBeLessThan(plain.length);
    const avif = encodes.mock.calls.filter(([, format]) => format === ImageFormat.AVIF);
    expect(avif.length).toBeGreaterThan(0);
    for (const [, , setting] of avif) expect(setting).toMatchObject({ avifEffort: SEARCH_AVIF_EFFORT });
    expect(fullSizeEncodes()).toBeLessThanOrEqual(3);
  });

  it("a small image is its own sample: the score reported is the whole image's", async () => {
    const out = await compress(
      small,
      options({ format: ImageFormat.WEBP, target: { goal: { case: "minScore", value: 75 } } }),
      limits,
    );
    const whole = createScorer(await pixelsOf(small)).score(await pixelsOf(out.data));
    expect(out.score).toBeCloseTo(whole, 6);
    expect(whole).toBeGreaterThanOrEqual(75);
  });

  it("a score no quality reaches fails with INVALID_OPTIONS, saying the best reached", async () => {
    const e = await failure(
      compress(
        small,
        options({ format: ImageFormat.JPEG, target: { goal: { case: "minScore", value: 99.5 } } }),
        limits,
      ),
    );
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
    expect(e.message).toMatch(/JPEG output reaches a score of [\d.]+ at most, below the target of 99.5/);
  });
});
