import { ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { createDeadline } from "./deadline.js";
import * as encoder from "./encode.js";
import type { OutputFormat } from "./formats.js";
import { readHeader } from "./header.js";
import { compress } from "./index.js";
import { createMeter } from "./meter.js";
import { planOf } from "./plan.js";
import { decodeSource } from "./source.js";
import { minSearchQuality, reachGoal } from "./targets.js";
import { corpusFile, limits, options } from "./test-support.js";

// A spy around the real encoder: the searches' cost is counted in encodes.
vi.mock("./encode.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("./encode.js")>();
  return { ...real, encode: vi.fn(real.encode) };
});
const encodes = vi.mocked(encoder.encode);

let small: Buffer;
beforeAll(async () => {
  small = await sharp(corpusFile("photos/coffee.png")).resize(200).png().toBuffer();
});

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
