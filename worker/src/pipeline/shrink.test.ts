import { ErrorCode, Fit, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { compress } from "./index.js";
import type { ResizePlan } from "./plan.js";
import { planOf } from "./plan.js";
import { shrinkToFit, shrunkResize } from "./shrink.js";
import { type Candidate, OverBudget } from "./targets.js";
import { corpusFile, failure, limits, options } from "./test-support.js";

// The photo of issue 17: its smallest WebP at full size is about 50.5 KB, just over a 50 KB budget.
const bike = corpusFile("photos/bike-2725x2225.jpg");
const budget = (maxBytes: number) => ({ goal: { case: "maxBytes" as const, value: BigInt(maxBytes) } });

describe("shrink to fit", () => {
  it("without the option, a budget no quality meets at full size fails as before", async () => {
    const e = await failure(compress(bike, options({ format: ImageFormat.WEBP, target: budget(50_000) }), limits));
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
    expect(e.message).toMatch(/^The smallest WebP output is \d+ bytes, over the limit of 50000 bytes$/);
  });

  it.each([
    ["WebP", ImageFormat.WEBP],
    ["JPEG", ImageFormat.JPEG],
    ["AUTO", ImageFormat.AUTO],
  ])(
    "the bike photo fits 50 KB as %s by shrinking, keeping its aspect ratio",
    async (_, format) => {
      const out = await compress(bike, options({ format, target: budget(50_000), shrinkToFit: true }), limits);
      expect(out.kind).toBe("compressed");
      expect(out.data.length).toBeLessThanOrEqual(50_000);
      expect(out.width).toBeLessThan(2725);
      expect(out.height).toBeLessThan(2225);
      expect(Math.abs(out.height - (out.width * 2225) / 2725)).toBeLessThanOrEqual(1);
      expect(out.shrunkFrom).toEqual({ width: 2725, height: 2225 });
      expect(out.note).toBe(`Resized from 2725×2225 to ${out.width}×${out.height} to fit 50 KB`);
      const meta = await sharp(out.data).metadata();
      expect([meta.width, meta.height]).toEqual([out.width, out.height]);
      // The floor quality when shrinking: a smaller image, not a blocky one.
      expect(out.quality).toBeGreaterThanOrEqual(30);
    },
    60_000,
  );

  it.each([
    ["lossless PNG", { format: ImageFormat.PNG }, 60_000],
    ["palette PNG", { format: ImageFormat.PNG, palette: true }, 20_000],
    ["AVIF", { format: ImageFormat.AVIF, resize: { maxWidth: 600, maxHeight: 600 } }, 3_000],
  ] as const)(
    "%s shrinks to fit too",
    async (_, init, maxBytes) => {
      const out = await compress(bike, options({ ...init, target: budget(maxBytes), shrinkToFit: true }), limits);
      expect(out.kind).toBe("compressed");
      expect(out.data.length).toBeLessThanOrEqual(maxBytes);
      expect(out.shrunkFrom).toBeDefined();
      expect(out.width).toBeLessThan(out.shrunkFrom?.width ?? 0);
      const { width = 0, height = 0 } = out.shrunkFrom ?? {};
      expect(Math.abs(out.height - (out.width * height) / width)).toBeLessThanOrEqual(1);
    },
    60_000,
  );

  it("an image already at the floor cannot shrink, and says so", async () => {
    const noise = await sharp(Buffer.from(Array.from({ length: 12 * 12 * 3 }, (_, i) => (i * 7919) % 256)), {
      raw: { width: 12, height: 12, channels: 3 },
    })
      .png()
      .toBuffer();
    const e = await failure(
      compress(
        noise,
        options({ format: ImageFormat.PNG, target: budget(20), shrinkToFit: true, allowLarger: true }),
        limits,
      ),
    );
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
    expect(e.message).toMatch(
      /^The smallest PNG output is \d+ bytes, over the limit of 20 bytes, at 12×12, which cannot shrink \(shrink to fit stops at 16 pixels on the short side\)$/,
    );
  });

  it("shrinks from the job's resize box, not from the source", async () => {
    const out = await compress(
      bike,
      options({
        format: ImageFormat.WEBP,
        target: budget(20_000),
        shrinkToFit: true,
        resize: { maxWidth: 1200, maxHeight: 1200 },
      }),
      limits,
    );
    expect(out.data.length).toBeLessThanOrEqual(20_000);
    expect(out.shrunkFrom).toEqual({ width: 1200, height: 980 });
    expect(out.width).toBeLessThan(1200);
    expect(Math.abs(out.height - (out.width * 980) / 1200)).toBeLessThanOrEqual(1);
  }, 60_000);

  it("a cover crop shrinks as a whole: the box's aspect ratio is kept", async () => {
    const out = await compress(
      bike,
      options({
        format: ImageFormat.JPEG,
        target: budget(8_000),
        shrinkToFit: true,
        resize: { maxWidth: 800, maxHeight: 800, fit: Fit.COVER },
      }),
      limits,
    );
    expect(out.data.length).toBeLessThanOrEqual(8_000);
    expect(out.shrunkFrom).toEqual({ width: 800, height: 800 });
    expect(out.width).toBeLessThan(800);
    expect(Math.abs(out.width - out.height)).toBeLessThanOrEqual(1);
  }, 60_000);

  it("every frame of an animation shrinks", async () => {
    const gif = corpusFile("edge/animated-10-frames.gif");
    const source = await sharp(gif, { animated: true }).metadata();
    const out = await compress(
      gif,
      options({ format: ImageFormat.WEBP, target: budget(1_500), shrinkToFit: true }),
      limits,
    );
    expect(out.data.length).toBeLessThanOrEqual(1_500);
    const meta = await sharp(out.data, { animated: true }).metadata();
    expect(meta.pages).toBe(source.pages);
    expect(out.width).toBeLessThan(source.width ?? 0);
    expect(meta.pageHeight).toBe(out.height);
  }, 60_000);

  it("an impossible budget fails naming the smallest output and the size it was reached at", async () => {
    const e = await failure(
      compress(bike, options({ format: ImageFormat.JPEG, target: budget(200), shrinkToFit: true }), limits),
    );
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
    expect(e.message).toMatch(
      /^The smallest JPEG output at quality 30 is \d+ bytes, over the limit of 200 bytes, even shrunk from 2725×2225 to \d+×16 \(shrink to fit stops at 16 pixels on the short side\)$/,
    );
  }, 60_000);

  it("an image that fits needs no shrinking and says nothing", async () => {
    const out = await compress(
      bike,
      options({ format: ImageFormat.WEBP, target: budget(400_000), shrinkToFit: true }),
      limits,
    );
    expect([out.width, out.height]).toEqual([2725, 2225]);
    expect(out.shrunkFrom).toBeUndefined();
    expect(out.note).toBeUndefined();
  }, 60_000);

  it("is refused with any goal but max bytes", () => {
    expect(() => planOf(options({ shrinkToFit: true, target: { goal: { case: "quality", value: 80 } } }))).toThrow(
      "Expected a max bytes target with shrink to fit but received a quality target",
    );
    expect(() => planOf(options({ shrinkToFit: true }))).toThrow(
      "Expected a max bytes target with shrink to fit but received no target",
    );
  });

  it("estimates the size from the overshoot: one smaller size when bytes follow pixels^0.72, as WebP's do", async () => {
    // The bike photo's smallest WebP at full size, and how it falls with the area.
    const bytesAt = (w: number, h: number) => Math.round(126_338 * ((w * h) / (2725 * 2225)) ** 0.72);
    const sizes: string[] = [];
    const attempt = async (resize: ResizePlan | undefined): Promise<Candidate> => {
      const [w, h] = resize ? [resize.maxWidth, resize.maxHeight] : [2725, 2225];
      sizes.push(`${w}×${h}`);
      const data = Buffer.alloc(bytesAt(w, h));
      if (data.length > 50_000) throw new OverBudget("over", { data, width: w, height: h });
      return { format: ImageFormat.WEBP, data, quality: 30, width: w, height: h };
    };
    const { best, from } = await shrinkToFit(attempt, undefined, 50_000);
    expect(sizes).toHaveLength(2);
    expect(best.data.length).toBeLessThanOrEqual(50_000);
    // Not shrunk much further than it had to be: the largest size that fits is about 1400 wide.
    expect(best.width).toBeGreaterThan(1300);
    expect(from).toEqual({ width: 2725, height: 2225 });
  });

  it("keeps the job's fit and enlargement when it scales the box", () => {
    expect(shrunkResize(undefined, 100, 80)).toEqual({
      maxWidth: 100,
      maxHeight: 80,
      fit: "inside",
      allowEnlarge: false,
    });
    expect(shrunkResize({ maxWidth: 800, maxHeight: 0, fit: "fill", allowEnlarge: true }, 400, 300)).toEqual({
      maxWidth: 400,
      maxHeight: 300,
      fit: "fill",
      allowEnlarge: true,
    });
  });
});
