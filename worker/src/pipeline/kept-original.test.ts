import { ImageFormat, MetadataPolicy } from "@imgc/proto";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { minimalExif, stripContainer } from "./container-strip.js";
import { compress } from "./index.js";
import { readCopyright } from "./metadata.js";
import { corpusFile, GPS_IFD, gpsExif, gpsXmp, ifd0Tags, limits, options } from "./test-support.js";

// Each input is a real corpus image carrying GPS, saved small so that a re-encode at a high quality is larger
// and never-larger keeps the original.
const inputs = {
  JPEG: async () =>
    sharp(corpusFile("edge/exif-orientation-6.jpg"))
      .keepIccProfile()
      .withExif(gpsExif)
      .withXmp(gpsXmp)
      .jpeg({ quality: 40 })
      .toBuffer(),
  PNG: async () =>
    sharp(corpusFile("photos/coffee.png"))
      .resize(160)
      .withExif(gpsExif)
      .withXmp(gpsXmp)
      .png({ palette: true, colours: 16 })
      .toBuffer(),
  WebP: async () =>
    sharp(corpusFile("photos/rocket.jpg"))
      .resize(320)
      .withExif(gpsExif)
      .withXmp(gpsXmp)
      .webp({ quality: 30 })
      .toBuffer(),
} as const;
const formats = { JPEG: ImageFormat.JPEG, PNG: ImageFormat.PNG, WebP: ImageFormat.WEBP } as const;

describe("a kept original under the metadata policy", () => {
  for (const name of ["JPEG", "PNG", "WebP"] as const) {
    it(`strips GPS, XMP and the rest from a ${name} at the container level, pixels and orientation untouched`, async () => {
      const input = await inputs[name]();
      const inMeta = await sharp(input).metadata();
      // The fixture does carry what must go.
      expect([ifd0Tags(inMeta.exif).includes(GPS_IFD), inMeta.xmp !== undefined]).toEqual([true, true]);
      const pixels = await sharp(input).raw().toBuffer();
      const opts = { format: formats[name], target: { goal: { case: "quality" as const, value: 100 } } };

      const stripped = await compress(input, options({ ...opts, metadata: MetadataPolicy.STRIP }), limits);
      expect(stripped.kind).toBe("kept-original");
      expect(stripped.data.length).toBeLessThan(input.length);
      const meta = await sharp(stripped.data).metadata();
      expect([meta.format, meta.xmp, meta.iptc]).toEqual([inMeta.format, undefined, undefined]);
      expect(ifd0Tags(meta.exif).includes(GPS_IFD)).toBe(false);
      expect(readCopyright(meta.exif)).toEqual({});
      expect(stripped.data.includes("PhoneCo")).toBe(false);
      // Nothing re-encoded: the same pixels, still upright when shown, the same colour profile.
      expect((await sharp(stripped.data).raw().toBuffer()).equals(pixels)).toBe(true);
      expect(meta.orientation ?? 1).toBe(inMeta.orientation ?? 1);
      expect(meta.icc?.equals(inMeta.icc ?? Buffer.alloc(0)) ?? inMeta.icc === undefined).toBe(true);

      const credited = await compress(
        input,
        options({ ...opts, metadata: MetadataPolicy.STRIP_KEEP_COPYRIGHT }),
        limits,
      );
      expect(credited.kind).toBe("kept-original");
      const creditedMeta = await sharp(credited.data).metadata();
      expect(readCopyright(creditedMeta.exif)).toEqual({ Copyright: "Jane Doe", Artist: "J. Doe" });
      expect(ifd0Tags(creditedMeta.exif).includes(GPS_IFD)).toBe(false);

      const all = await compress(input, options({ ...opts, metadata: MetadataPolicy.KEEP_ALL }), limits);
      expect([all.kind, all.data.equals(input)]).toEqual(["kept-original", true]);
    });
  }

  it("does not keep an AVIF that carries metadata it cannot strip: the compressed output is stored", async () => {
    const input = await sharp(corpusFile("photos/rocket.jpg"))
      .resize(96)
      .withExif(gpsExif)
      .avif({ quality: 30 })
      .toBuffer();
    expect(ifd0Tags((await sharp(input).metadata()).exif)).toContain(GPS_IFD);
    const opts = { format: ImageFormat.AVIF, target: { goal: { case: "quality" as const, value: 100 } } };
    const out = await compress(input, options(opts), limits);
    expect([out.kind, out.data.length > input.length]).toEqual(["compressed", true]);
    expect((await sharp(out.data).metadata()).exif).toBeUndefined();
    // Without metadata the same AVIF is kept as it is.
    const bare = await sharp(corpusFile("photos/rocket.jpg")).resize(96).avif({ quality: 30 }).toBuffer();
    const kept = await compress(bare, options(opts), limits);
    expect([kept.kind, kept.data.equals(bare)]).toEqual(["kept-original", true]);
  });

  it("writes a minimal EXIF that sharp reads back: orientation, artist, copyright", async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: "#000" } })
      .png()
      .toBuffer();
    expect(minimalExif({ orientation: 1 })).toBeUndefined();
    const tagged = stripContainer(png, ImageFormat.PNG, { orientation: 8, Artist: "A", Copyright: "© Someone, 2024" });
    const meta = await sharp(tagged).metadata();
    expect([meta.orientation, readCopyright(meta.exif)]).toEqual([8, { Artist: "A", Copyright: "© Someone, 2024" }]);
  });
});
