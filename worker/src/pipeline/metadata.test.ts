import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { readCopyright } from "./metadata.js";
import { corpusFile } from "./test-support.js";

const exifOf = async (fields: Record<string, string>) => {
  const jpeg = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#888" } })
    .withExif({ IFD0: fields })
    .jpeg()
    .toBuffer();
  return (await sharp(jpeg).metadata()).exif;
};

describe("readCopyright", () => {
  it("reads Copyright and Artist from IFD0", async () => {
    const exif = await exifOf({ Copyright: "(c) 2024 Ada Lovelace", Artist: "Ada", Make: "Acme" });
    expect(readCopyright(exif)).toEqual({ Copyright: "(c) 2024 Ada Lovelace", Artist: "Ada" });
  });

  it("reads short values stored inline", async () => {
    expect(readCopyright(await exifOf({ Artist: "Al" }))).toEqual({ Artist: "Al" });
  });

  it("yields nothing for EXIF without them, for garbage, and for nothing", async () => {
    expect(readCopyright((await sharp(corpusFile("edge/exif-orientation-6.jpg")).metadata()).exif)).toEqual({});
    expect(readCopyright(Buffer.from("Exif\0\0II*\0\xff\xff\xff\xff", "latin1"))).toEqual({});
    expect(readCopyright(Buffer.from("nonsense"))).toEqual({});
    expect(readCopyright(undefined)).toEqual({});
  });
});
