import { describe, expect, test } from "vitest";
import { ImageFormat } from "../gen/imgc/v1/options_pb.js";
import {
  contentTypeOf,
  extensionOf,
  formatExtension,
  formatInfo,
  formatName,
  IMAGE_EXTENSIONS,
  isOutputFormat,
  OUTPUT_FORMATS,
} from "./formats.js";

describe("formats", () => {
  test("the engine writes JPEG, WebP, AVIF and PNG; it only reads GIF, TIFF and SVG", () => {
    expect(OUTPUT_FORMATS.map((format) => formatInfo(format).name)).toEqual(["JPEG", "WebP", "AVIF", "PNG"]);
    for (const format of [ImageFormat.GIF, ImageFormat.TIFF, ImageFormat.SVG, ImageFormat.AUTO, ImageFormat.KEEP]) {
      expect(isOutputFormat(format)).toBe(false);
    }
    expect(formatInfo(ImageFormat.SVG)).toEqual({ name: "SVG", extension: "svg", contentType: "image/svg+xml" });
  });

  test("names and extensions; none for AUTO, KEEP and values this version does not know", () => {
    expect(formatName(ImageFormat.WEBP)).toBe("WebP");
    expect(formatExtension(ImageFormat.JPEG)).toBe("jpg");
    expect(formatName(ImageFormat.AUTO)).toBe("");
    expect(formatExtension(ImageFormat.KEEP)).toBe("");
    expect(formatName(99 as ImageFormat)).toBe("");
  });

  // From the CLI (cli/src/files.test.ts).
  test("content types from extensions", () => {
    expect(contentTypeOf("a.JPG")).toBe("image/jpeg");
    expect(contentTypeOf("a.svg")).toBe("image/svg+xml");
    expect(contentTypeOf("a.bin")).toBe("application/octet-stream");
  });

  test("extensions: lower-cased, of the base name only; a dot file has none", () => {
    expect(extensionOf("dir.v2/Photo.TIF")).toBe(".tif");
    expect(extensionOf("dir.v2/README")).toBe("");
    expect(extensionOf(".bashrc")).toBe("");
    expect(IMAGE_EXTENSIONS.has(extensionOf("IMG_0001.HEIC"))).toBe(true);
    expect(IMAGE_EXTENSIONS.has(extensionOf("notes.txt"))).toBe(false);
  });
});
