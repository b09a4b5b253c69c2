import { ChromaSubsampling, ErrorCode, Fit, ImageFormat, MetadataPolicy } from "@imgc/proto";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { compress } from "./index.js";
import { readCopyright } from "./metadata.js";
import { createScorer } from "./ssimulacra2.js";
import { corpusFile, failure, limits, options, pixelsOf } from "./test-support.js";

// Small inputs keep the suite quick on a shared machine: a 640×427 photo, and a photo with real alpha.
const photo = corpusFile("photos/rocket.jpg");
let alpha: Buffer;
let tagged: Buffer;
let small: Buffer;

beforeAll(async () => {
  small = await sharp(photo).resize(240).jpeg({ quality: 95 }).toBuffer();
  alpha = await sharp(corpusFile("photos/paper-alpha-2048x1536.png")).resize(320).png().toBuffer();
  tagged = await sharp(photo)
    .withExif({
      IFD0: { Copyright: "(c) 2024 Example Photographer", Artist: "Example Photographer", Make: "Acme" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "51/1 30/1 0/1" },
    })
    .jpeg({ quality: 95 })
    .toBuffer();
});

const quality = (value: number) => ({ goal: { case: "quality" as const, value } });
const meta = (data: Buffer) => sharp(data).metadata();

describe("format", () => {
  it("UNSPECIFIED means AUTO, which by default looks as good as a plain q80 JPEG in fewer bytes", async () => {
    const [unspecified, auto] = await Promise.all([
      compress(photo, options(), limits),
      compress(photo, options({ format: ImageFormat.AUTO }), limits),
    ]);
    expect(unspecified.data.equals(auto.data)).toBe(true);
    // Re-measured here over the whole image, independently of the sample the search measured.
    const plain = await sharp(photo).jpeg({ quality: 80 }).toBuffer();
    const scorer = createScorer(await pixelsOf(photo));
    expect(scorer.score(await pixelsOf(auto.data))).toBeGreaterThanOrEqual(scorer.score(await pixelsOf(plain)));
    expect(auto.data.length).toBeLessThan(plain.length);
    expect(auto.score).toBeGreaterThan(0);
  });

  it("AUTO never picks JPEG for an image with alpha, and keeps the alpha", async () => {
    for (const target of [undefined, quality(80)]) {
      const out = await compress(alpha, options(target ? { target } : {}), limits);
      expect([ImageFormat.WEBP, ImageFormat.PNG, ImageFormat.AVIF]).toContain(out.format);
      expect((await meta(out.data)).hasAlpha).toBe(true);
    }
  });

  it("AUTO chooses only among the configured formats", async () => {
    const out = await compress(photo, options({ autoFormats: [ImageFormat.AVIF] }), limits);
    expect(out.format).toBe(ImageFormat.AVIF);
    const two = await compress(photo, options({ autoFormats: [ImageFormat.PNG, ImageFormat.JPEG] }), limits);
    expect(two.format).toBe(ImageFormat.JPEG);
    expect((await failure(compress(photo, options({ autoFormats: [ImageFormat.GIF] }), limits))).code).toBe(
      ErrorCode.INVALID_OPTIONS,
    );
  });

  it("KEEP writes the input's format", async () => {
    const out = await compress(photo, options({ format: ImageFormat.KEEP }), limits);
    expect([out.format, out.extension, out.contentType]).toEqual([ImageFormat.JPEG, "jpg", "image/jpeg"]);
  });

  it("rejects formats that are only ever inputs", async () => {
    const e = await failure(compress(photo, options({ format: ImageFormat.GIF }), limits));
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
  });

  it("writes JPEG through mozjpeg: smaller than libjpeg at the same quality", async () => {
    const out = await compress(photo, options({ format: ImageFormat.JPEG, target: quality(75) }), limits);
    const plain = await sharp(photo).jpeg({ quality: 75 }).toBuffer();
    expect(out.data.length).toBeLessThan(plain.length);
  });

  it("flattens alpha onto white when JPEG is asked for", async () => {
    const clear = await sharp({
      create: { width: 32, height: 32, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const out = await compress(clear, options({ format: ImageFormat.JPEG, allowLarger: true }), limits);
    const px = await sharp(out.data).raw().toBuffer();
    expect(Math.min(...px)).toBeGreaterThan(250);
  });
});

describe("target", () => {
  it("quality: a higher quality gives a larger output, and is reported", async () => {
    for (const format of [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF]) {
      const low = await compress(photo, options({ format, target: quality(30) }), limits);
      const high = await compress(photo, options({ format, target: quality(90) }), limits);
      expect([low.quality, high.quality]).toEqual([30, 90]);
      expect(high.data.length).toBeGreaterThan(low.data.length);
    }
  });

  it("rejects a quality outside 1–100", async () => {
    for (const value of [0, 101]) {
      const e = await failure(compress(photo, options({ target: quality(value) }), limits));
      expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
      expect(e.message).toMatch(/between 1 and 100/);
    }
  });

  it("lossless: PNG and WebP give back the exact pixels, with quality 0", async () => {
    const expected = await sharp(alpha).raw().toBuffer();
    for (const format of [ImageFormat.PNG, ImageFormat.WEBP]) {
      const out = await compress(
        alpha,
        options({ format, target: { goal: { case: "lossless", value: true } } }),
        limits,
      );
      expect(out.quality).toBe(0);
      expect((await sharp(out.data).raw().toBuffer()).equals(expected)).toBe(true);
    }
  });

  it("lossless: AUTO leaves JPEG out; JPEG alone falls back to quality 100", async () => {
    const auto = await compress(
      photo,
      options({ target: { goal: { case: "lossless", value: true } }, allowLarger: true }),
      limits,
    );
    expect(auto.format).toBe(ImageFormat.WEBP);
    expect(auto.quality).toBe(0);
    const jpeg = await compress(
      photo,
      options({ format: ImageFormat.JPEG, target: { goal: { case: "lossless", value: true } }, allowLarger: true }),
      limits,
    );
    expect(jpeg.quality).toBe(100);
  });

  it("min SSIM: every lossy format reaches the floor and reports the SSIM it measured", async () => {
    for (const format of [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.AUTO]) {
      const out = await compress(
        small,
        options({ format, target: { goal: { case: "minSsim", value: 0.97 } } }),
        limits,
      );
      expect(out.ssim).toBeGreaterThanOrEqual(0.97);
      expect(out.quality).toBeGreaterThan(0);
      expect(out.quality).toBeLessThan(100);
    }
  });

  it("min SSIM: a higher floor costs more bytes", async () => {
    const low = await compress(
      photo,
      options({ format: ImageFormat.WEBP, target: { goal: { case: "minSsim", value: 0.9 } } }),
      limits,
    );
    const high = await compress(
      photo,
      options({ format: ImageFormat.WEBP, target: { goal: { case: "minSsim", value: 0.98 } } }),
      limits,
    );
    expect(low.quality).toBeLessThan(high.quality);
    expect(low.data.length).toBeLessThan(high.data.length);
  });

  it("min SSIM: lossless PNG meets any floor with an SSIM of 1", async () => {
    const out = await compress(
      alpha,
      options({ format: ImageFormat.PNG, target: { goal: { case: "minSsim", value: 0.999 } } }),
      limits,
    );
    expect([out.ssim, out.quality]).toEqual([1, 0]);
  });

  it("min SSIM: an unreachable floor fails with INVALID_OPTIONS; outside 0.5–1 is rejected", async () => {
    const e = await failure(
      compress(photo, options({ format: ImageFormat.JPEG, target: { goal: { case: "minSsim", value: 1 } } }), limits),
    );
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
    expect(e.message).toMatch(/SSIM of 0\.\d+ at most/);
    const bad = await failure(compress(photo, options({ target: { goal: { case: "minSsim", value: 0.2 } } }), limits));
    expect(bad.code).toBe(ErrorCode.INVALID_OPTIONS);
  });

  it("max bytes: every lossy format fits the budget, as high a quality as fits", async () => {
    const budget = 4_000;
    for (const format of [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.AUTO]) {
      const out = await compress(
        small,
        options({ format, target: { goal: { case: "maxBytes", value: BigInt(budget) } } }),
        limits,
      );
      expect(out.data.length).toBeLessThanOrEqual(budget);
      expect(out.quality).toBeGreaterThan(0);
      expect(out.ssim).toBeGreaterThan(0.5);
      if (out.quality < 100 && format !== ImageFormat.AUTO) {
        const above = await compress(small, options({ format, target: quality(out.quality + 1) }), limits);
        expect(above.data.length).toBeGreaterThan(budget);
      }
    }
  });

  it("max bytes: a budget nothing fits fails with INVALID_OPTIONS", async () => {
    const e = await failure(
      compress(
        photo,
        options({ format: ImageFormat.JPEG, target: { goal: { case: "maxBytes", value: 100n } } }),
        limits,
      ),
    );
    expect(e.code).toBe(ErrorCode.INVALID_OPTIONS);
    expect(e.message).toMatch(/over the limit of 100 bytes/);
  });
});

describe("resize", () => {
  const sized = async (
    resize: Parameters<typeof options>[0] extends infer T ? (T extends { resize?: infer R } ? R : never) : never,
  ) => {
    const out = await compress(photo, options({ format: ImageFormat.JPEG, resize }), limits);
    const m = await meta(out.data);
    expect([out.width, out.height]).toEqual([m.width, m.height]);
    return [out.width, out.height];
  };

  it("fits inside the box by default, keeping the aspect ratio", async () => {
    expect(await sized({ maxWidth: 320 })).toEqual([320, 214]);
    expect(await sized({ maxHeight: 100 })).toEqual([150, 100]);
    expect(await sized({ maxWidth: 300, maxHeight: 300 })).toEqual([300, 200]);
  });

  it("honours each fit mode", async () => {
    expect(await sized({ maxWidth: 300, maxHeight: 300, fit: Fit.COVER })).toEqual([300, 300]);
    expect(await sized({ maxWidth: 300, maxHeight: 300, fit: Fit.CONTAIN })).toEqual([300, 300]);
    expect(await sized({ maxWidth: 300, maxHeight: 300, fit: Fit.FILL })).toEqual([300, 300]);
    expect(await sized({ maxWidth: 300, maxHeight: 300, fit: Fit.OUTSIDE })).toEqual([450, 300]);
  });

  it("never enlarges unless allowed", async () => {
    expect(await sized({ maxWidth: 2000 })).toEqual([640, 427]);
    expect(await sized({ maxWidth: 1280, allowEnlarge: true })).toEqual([1280, 854]);
  });

  it("a resized output is never swapped back for the larger-dimensioned original", async () => {
    const out = await compress(
      photo,
      options({ format: ImageFormat.JPEG, target: quality(100), resize: { maxWidth: 639 } }),
      limits,
    );
    expect(out.kind).toBe("compressed");
    expect(out.width).toBe(639);
  });
});

describe("metadata", () => {
  const exif = async (data: Buffer) => (await meta(data)).exif;

  it("strips everything by default", async () => {
    const out = await compress(tagged, options({ format: ImageFormat.JPEG }), limits);
    const m = await meta(out.data);
    expect([m.exif, m.icc, m.xmp]).toEqual([undefined, undefined, undefined]);
  });

  it("strip-keep-copyright keeps only copyright and artist", async () => {
    for (const format of [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.PNG]) {
      const out = await compress(
        tagged,
        options({ format, metadata: MetadataPolicy.STRIP_KEEP_COPYRIGHT, allowLarger: true }),
        limits,
      );
      const block = await exif(out.data);
      expect(readCopyright(block)).toEqual({
        Copyright: "(c) 2024 Example Photographer",
        Artist: "Example Photographer",
      });
      expect(block?.toString("latin1")).not.toMatch(/Acme/);
      expect(block?.includes(Buffer.from([0x88, 0x25])) || block?.includes(Buffer.from([0x25, 0x88]))).toBe(false);
    }
  });

  it("keep-all keeps EXIF (GPS included) and the ICC profile", async () => {
    const out = await compress(
      tagged,
      options({ format: ImageFormat.JPEG, metadata: MetadataPolicy.KEEP_ALL }),
      limits,
    );
    const block = await exif(out.data);
    expect(block?.toString("latin1")).toMatch(/Acme/);
    expect(readCopyright(block).Copyright).toBe("(c) 2024 Example Photographer");
    const p3 = await compress(
      corpusFile("edge/display-p3-profile.png"),
      options({ format: ImageFormat.PNG, metadata: MetadataPolicy.KEEP_ALL, allowLarger: true }),
      limits,
    );
    expect((await meta(p3.data)).icc?.length).toBe((await meta(corpusFile("edge/display-p3-profile.png"))).icc?.length);
  });
});

describe("encoder options", () => {
  it("effort changes the encoders' work (PNG, WebP, AVIF)", async () => {
    for (const format of [ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.AVIF]) {
      const fast = await compress(small, options({ format, effort: 1, allowLarger: true }), limits);
      const slow = await compress(small, options({ format, effort: 10, allowLarger: true }), limits);
      expect(fast.data.equals(slow.data)).toBe(false);
    }
    expect((await failure(compress(photo, options({ effort: 11 }), limits))).code).toBe(ErrorCode.INVALID_OPTIONS);
  });

  it("progressive JPEG on and off", async () => {
    const on = await compress(photo, options({ format: ImageFormat.JPEG, progressive: true }), limits);
    const off = await compress(photo, options({ format: ImageFormat.JPEG }), limits);
    expect((await meta(on.data)).isProgressive).toBe(true);
    expect((await meta(off.data)).isProgressive).toBe(false);
  });

  it("near-lossless WebP: lossless bitstream, smaller than lossless", async () => {
    const near = await compress(
      alpha,
      options({ format: ImageFormat.WEBP, nearLossless: true, target: quality(40) }),
      limits,
    );
    const lossless = await compress(
      alpha,
      options({ format: ImageFormat.WEBP, target: { goal: { case: "lossless", value: true } } }),
      limits,
    );
    expect(near.data.includes(Buffer.from("VP8L"))).toBe(true);
    expect(near.data.length).toBeLessThan(lossless.data.length);
    expect(near.quality).toBe(40);
  });

  it("chroma subsampling 4:4:4 and 4:2:0", async () => {
    const full = await compress(
      photo,
      options({ format: ImageFormat.JPEG, chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_444 }),
      limits,
    );
    const half = await compress(
      photo,
      options({ format: ImageFormat.JPEG, chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_420 }),
      limits,
    );
    expect((await meta(full.data)).chromaSubsampling).toBe("4:4:4");
    expect((await meta(half.data)).chromaSubsampling).toBe("4:2:0");
    const avif444 = await compress(
      photo,
      options({ format: ImageFormat.AVIF, chromaSubsampling: ChromaSubsampling.CHROMA_SUBSAMPLING_444 }),
      limits,
    );
    const avif420 = await compress(photo, options({ format: ImageFormat.AVIF }), limits);
    expect(avif444.data.length).toBeGreaterThan(avif420.data.length);
  });

  it("palette PNG: quantised, far smaller than lossless", async () => {
    const palette = await compress(
      alpha,
      options({ format: ImageFormat.PNG, palette: true, target: quality(60) }),
      limits,
    );
    const lossless = await compress(alpha, options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    expect((await meta(palette.data)).isPalette).toBe(true);
    expect(palette.data.length).toBeLessThan(lossless.data.length / 2);
    expect(palette.quality).toBe(60);
  });

  it("allow_larger writes an output even when it is not smaller", async () => {
    const tiny = corpusFile("edge/full-transparent.png");
    const kept = await compress(tiny, options({ format: ImageFormat.PNG }), limits);
    const written = await compress(tiny, options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    expect(kept.kind).toBe("kept-original");
    expect(written.kind).toBe("compressed");
    expect(written.data.length).toBeGreaterThanOrEqual(tiny.length);
  });
});
