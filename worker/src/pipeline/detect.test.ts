import { ErrorCode, ImageFormat } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { ItemError } from "../item-error.js";
import { detectFormat } from "./detect.js";
import { corpusFile } from "./test-support.js";

const codeOf = (bytes: Buffer): ErrorCode | undefined => {
  try {
    detectFormat(bytes);
  } catch (e) {
    if (ItemError.is(e)) return e.code;
    throw e;
  }
  return undefined;
};

describe("detectFormat", () => {
  it("recognises every corpus format from its bytes", () => {
    expect(detectFormat(corpusFile("photos/rocket.jpg"))).toBe(ImageFormat.JPEG);
    expect(detectFormat(corpusFile("photos/ihc.png"))).toBe(ImageFormat.PNG);
    expect(detectFormat(corpusFile("photos/street-1024x772.webp"))).toBe(ImageFormat.WEBP);
    expect(detectFormat(corpusFile("edge/animated-10-frames.gif"))).toBe(ImageFormat.GIF);
    expect(detectFormat(corpusFile("edge/cosmos.avif"))).toBe(ImageFormat.AVIF);
    expect(detectFormat(corpusFile("edge/uncompressed.tiff"))).toBe(ImageFormat.TIFF);
    expect(detectFormat(corpusFile("edge/check.svg"))).toBe(ImageFormat.SVG);
  });

  it("finds SVG after a BOM, an XML declaration, comments and a doctype", () => {
    const svg = `\uFEFF<?xml version="1.0"?>\n<!-- made by hand -->\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg"/>`;
    expect(detectFormat(Buffer.from(svg))).toBe(ImageFormat.SVG);
  });

  it("fails what is not a supported image as UNSUPPORTED_FORMAT", () => {
    expect(codeOf(Buffer.alloc(0))).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    expect(codeOf(corpusFile("bad/font-not-an-image.ttf"))).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    expect(codeOf(Buffer.from("<html><body>not an svg</body></html>"))).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    expect(codeOf(Buffer.from("%PDF-1.7\n"))).toBe(ErrorCode.UNSUPPORTED_FORMAT);
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from("ftypheic\0\0\0\0mif1heic", "latin1")]);
    expect(codeOf(heic)).toBe(ErrorCode.UNSUPPORTED_FORMAT);
  });

  it("takes AVIF from a compatible brand too", () => {
    const avif = Buffer.concat([Buffer.from([0, 0, 0, 28]), Buffer.from("ftypmif1\0\0\0\0mif1miafavif", "latin1")]);
    expect(detectFormat(avif)).toBe(ImageFormat.AVIF);
  });
});
