import { readdirSync } from "node:fs";
import { ErrorCode, Fit, ImageFormat, MetadataPolicy } from "@imgc/proto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { compress } from "./index.js";
import { readCopyright } from "./metadata.js";
import { lumaOf, ssim } from "./ssim.js";
import { corpusDir, corpusFile, failure, GPS_IFD, gpsExif, gpsXmp, ifd0Tags, limits, options } from "./test-support.js";

const decode = async (data: Buffer, animated = false) => {
  const { data: px, info } = await sharp(data, { animated }).raw().toBuffer({ resolveWithObject: true });
  return { data: px, width: info.width, height: info.height, channels: info.channels };
};
type Decoded = Awaited<ReturnType<typeof decode>>;
const whole = (d: Decoded) => lumaOf(d, { left: 0, top: 0, width: d.width, height: d.height });

// Every file of edge/ is covered by a case below; a new file in the corpus fails this test until it is.
const edgeFiles = [
  "animated-10-frames.gif",
  "animated-10-frames.webp",
  "check.svg",
  "cmyk-with-profile.jpg",
  "cosmos.avif",
  "display-p3-profile.png",
  "exif-orientation-1.jpg",
  "exif-orientation-3.jpg",
  "exif-orientation-6.jpg",
  "exif-orientation-8.jpg",
  "full-transparent.png",
  "gradients.png",
  "grey16-alpha.png",
  "rgb16.png",
  "uncompressed.tiff",
];

describe("the edge corpus", () => {
  it("is the set of files these tests cover", () => {
    expect(readdirSync(corpusDir("edge")).sort()).toEqual(edgeFiles);
  });

  it("comes out upright whatever the EXIF orientation", async () => {
    const upright = await decode(
      (await compress(corpusFile("edge/exif-orientation-1.jpg"), options({ format: ImageFormat.PNG }), limits)).data,
    );
    for (const n of [3, 6, 8]) {
      const out = await compress(
        corpusFile(`edge/exif-orientation-${n}.jpg`),
        options({ format: ImageFormat.JPEG }),
        limits,
      );
      expect([out.width, out.height]).toEqual([600, 450]);
      const meta = await sharp(out.data).metadata();
      expect(meta.orientation ?? 1).toBe(1);
      const got = await decode(out.data);
      expect(ssim(whole(upright), whole(got))).toBeGreaterThan(0.9);
    }
  });

  it("keeps the upright pixels under keep-all metadata, with orientation reset to 1 and every value kept", async () => {
    // The corpus file with camera, copyright and GPS tags added to its EXIF (orientation 6 kept) and XMP.
    const input = await sharp(corpusFile("edge/exif-orientation-6.jpg"))
      .keepIccProfile()
      .withExif(gpsExif)
      .withXmp(gpsXmp)
      .jpeg({ quality: 95 })
      .toBuffer();
    const inMeta = await sharp(input).metadata();
    expect(inMeta.orientation).toBe(6);
    const out = await compress(input, options({ format: ImageFormat.JPEG, metadata: MetadataPolicy.KEEP_ALL }), limits);
    const meta = await sharp(out.data).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([600, 450, 1]);
    expect(meta.icc?.equals(inMeta.icc as Buffer)).toBe(true);
    expect(readCopyright(meta.exif)).toEqual({ Copyright: "Jane Doe", Artist: "J. Doe" });
    expect(ifd0Tags(meta.exif)).toContain(GPS_IFD);
    expect(meta.exif?.includes("PhoneCo")).toBe(true);
    expect(meta.xmpAsString).toBe(inMeta.xmpAsString);
  });

  it("converts CMYK to sRGB through the embedded profile", async () => {
    const input = corpusFile("edge/cmyk-with-profile.jpg");
    expect((await sharp(input).metadata()).space).toBe("cmyk");
    const out = await compress(input, options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    const meta = await sharp(out.data).metadata();
    expect([meta.space, meta.channels]).toEqual(["srgb", 3]);
    // Lossless PNG: the pixels are libvips's profile-based CMYK → sRGB conversion, exactly.
    const expected = await sharp(input).toColourspace("srgb").raw().toBuffer();
    expect((await decode(out.data)).data.equals(expected)).toBe(true);
    // A naive conversion that ignores the profile gives visibly different colours.
    const naive = await sharp(input, { ignoreIcc: true }).toColourspace("srgb").raw().toBuffer();
    expect(naive.equals(expected)).toBe(false);
  });

  it("converts a Display-P3 image to sRGB", async () => {
    const input = corpusFile("edge/display-p3-profile.png");
    const out = await compress(input, options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    const meta = await sharp(out.data).metadata();
    expect(meta.icc).toBeUndefined();
    const got = await decode(out.data);
    // The stored P3 red (241, 0, 0) is outside sRGB: converted, it becomes sRGB's most saturated red.
    const stored = await sharp(input, { ignoreIcc: true }).raw().toBuffer();
    expect([...stored.subarray(0, 3)]).toEqual([241, 0, 0]);
    expect([...got.data.subarray(0, 3)]).toEqual([255, 0, 0]);
  });

  it("handles 16-bit RGB: a PNG keeps all 16 bits, a WebP is the input's pixels at 8 bits", async () => {
    const input = corpusFile("edge/rgb16.png");
    const out = await compress(input, options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    expect((await sharp(out.data).metadata()).depth).toBe("ushort");
    const deep = await sharp(input).raw({ depth: "ushort" }).toBuffer();
    expect((await sharp(out.data).raw({ depth: "ushort" }).toBuffer()).equals(deep)).toBe(true);
    const lossless = { goal: { case: "lossless" as const, value: true } };
    const webp = await compress(input, options({ format: ImageFormat.WEBP, target: lossless }), limits);
    const expected = await sharp(input).toColourspace("srgb").raw({ depth: "uchar" }).toBuffer();
    expect((await decode(webp.data)).data.equals(expected)).toBe(true);
  });

  it("handles 16-bit grey with alpha: grey stays grey, alpha is kept", async () => {
    const input = corpusFile("edge/grey16-alpha.png");
    const expected = await decode(await sharp(input).toColourspace("srgb").raw({ depth: "uchar" }).png().toBuffer());
    for (const format of [ImageFormat.PNG, ImageFormat.WEBP]) {
      const out = await compress(
        input,
        options({ format, target: { goal: { case: "lossless", value: true } } }),
        limits,
      );
      const meta = await sharp(out.data).metadata();
      expect(meta.hasAlpha).toBe(true);
      const got = await decode(out.data);
      const alpha = (d: Decoded) => d.data.filter((_, i) => i % d.channels === d.channels - 1);
      expect(Buffer.from(alpha(got)).equals(Buffer.from(alpha(expected)))).toBe(true);
    }
    const png = await compress(input, options({ format: ImageFormat.PNG, allowLarger: true }), limits);
    expect((await sharp(png.data).metadata()).channels).toBe(2);
  });

  it("keeps the alpha of a fully transparent image", async () => {
    const out = await compress(
      corpusFile("edge/full-transparent.png"),
      options({ format: ImageFormat.WEBP, allowLarger: true }),
      limits,
    );
    const got = await decode(out.data);
    expect(got.channels).toBe(4);
    expect(got.data.filter((_, i) => i % 4 === 3).every((a) => a === 0)).toBe(true);
  });

  for (const file of ["animated-10-frames.gif", "animated-10-frames.webp"]) {
    it(`keeps ${file} animated: every frame, its delays and loop count`, async () => {
      const input = corpusFile(`edge/${file}`);
      const before = await sharp(input, { animated: true }).metadata();
      for (const format of [ImageFormat.AUTO, ImageFormat.WEBP, ImageFormat.KEEP]) {
        const out = await compress(input, options({ format, allowLarger: true }), limits);
        expect(out.format).toBe(ImageFormat.WEBP);
        const after = await sharp(out.data, { animated: true }).metadata();
        expect(after.pages).toBe(10);
        expect(after.delay).toEqual(before.delay);
        expect(after.loop).toBe(before.loop);
        expect([out.width, out.height]).toEqual([370, 285]);
      }
      const still = await compress(input, options({ format: ImageFormat.PNG }), limits);
      expect((await sharp(still.data, { animated: true }).metadata()).pages ?? 1).toBe(1);
      const flattened = await compress(input, options({ format: ImageFormat.WEBP, flattenAnimation: true }), limits);
      expect((await sharp(flattened.data, { animated: true }).metadata()).pages ?? 1).toBe(1);
    });
  }

  it("resizes every frame of an animation, cropping too", async () => {
    const out = await compress(
      corpusFile("edge/animated-10-frames.gif"),
      options({ format: ImageFormat.WEBP, resize: { maxWidth: 100, maxHeight: 100, fit: Fit.COVER } }),
      limits,
    );
    const after = await sharp(out.data, { animated: true }).metadata();
    expect([out.width, out.height, after.pageHeight, after.pages]).toEqual([100, 100, 100, 10]);
  });

  it("renders SVG", async () => {
    const out = await compress(
      corpusFile("edge/check.svg"),
      options({ format: ImageFormat.PNG, allowLarger: true }),
      limits,
    );
    expect(out.inputFormat).toBe(ImageFormat.SVG);
    expect([out.format, out.width, out.height]).toEqual([ImageFormat.PNG, 100, 100]);
  });

  it("reads AVIF and uncompressed TIFF; KEEP writes TIFF as PNG", async () => {
    const avif = await compress(corpusFile("edge/cosmos.avif"), options({ format: ImageFormat.JPEG }), limits);
    expect([avif.inputFormat, avif.format, avif.width, avif.height]).toEqual([
      ImageFormat.AVIF,
      ImageFormat.JPEG,
      2048,
      858,
    ]);
    const input = corpusFile("edge/uncompressed.tiff");
    const tiff = await compress(input, options({ format: ImageFormat.KEEP }), limits);
    expect([tiff.inputFormat, tiff.format, tiff.extension]).toEqual([ImageFormat.TIFF, ImageFormat.PNG, "png"]);
    expect(tiff.data.length).toBeLessThan(input.length);
  });

  it("meets a min-SSIM target on smooth gradients", async () => {
    const out = await compress(
      corpusFile("edge/gradients.png"),
      options({ format: ImageFormat.WEBP, target: { goal: { case: "minSsim", value: 0.99 } } }),
      limits,
    );
    expect(out.ssim).toBeGreaterThanOrEqual(0.99);
  });
});

describe("the bad corpus", () => {
  const expected: Record<string, ErrorCode> = {
    "corrupt-header.jpg": ErrorCode.CORRUPT_INPUT,
    "font-not-an-image.ttf": ErrorCode.UNSUPPORTED_FORMAT,
    "truncated.png": ErrorCode.CORRUPT_INPUT,
  };

  it("is the set of files these tests cover", () => {
    expect(readdirSync(corpusDir("bad")).sort()).toEqual(Object.keys(expected));
  });

  for (const [file, code] of Object.entries(expected)) {
    it(`fails ${file} with ${ErrorCode[code]} and a readable message`, async () => {
      // AUTO decodes to memory first; a single fixed encode streams: both paths must classify alike.
      for (const format of [ImageFormat.AUTO, ImageFormat.JPEG]) {
        const e = await failure(compress(corpusFile(`bad/${file}`), options({ format }), limits));
        expect(e.code).toBe(code);
        expect(e.message.length).toBeGreaterThan(20);
        expect(e.message).not.toMatch(/\n|at .*\.(ts|js)/);
      }
    });
  }
});
