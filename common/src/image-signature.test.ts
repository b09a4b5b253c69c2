import { ImageFormat } from "@imgc/proto";
import { expect, test } from "vitest";
import { imageSignature } from "./image-signature.js";

const ftyp = (brand: string, ...compatible: string[]) => {
  const body = Buffer.from(`ftyp${brand}\0\0\0\0${compatible.join("")}`);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(body.length + 4);
  return Buffer.concat([size, body]);
};

test("each format the cluster reads is told by its first bytes, whatever the file is called", () => {
  expect(imageSignature(Buffer.from([0xff, 0xd8, 0xff, 0xdb]))).toBe(ImageFormat.JPEG);
  expect(imageSignature(Buffer.from("\x89PNG\r\n\x1a\n", "latin1"))).toBe(ImageFormat.PNG);
  expect(imageSignature(Buffer.from("RIFF\0\0\0\0WEBPVP8 "))).toBe(ImageFormat.WEBP);
  expect(imageSignature(Buffer.from("GIF89a"))).toBe(ImageFormat.GIF);
  expect(imageSignature(Buffer.from([0x4d, 0x4d, 0x00, 0x2a]))).toBe(ImageFormat.TIFF);
  expect(imageSignature(ftyp("mif1", "mif1", "avif"))).toBe(ImageFormat.AVIF);
  expect(imageSignature(Buffer.from('\uFEFF<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'))).toBe(
    ImageFormat.SVG,
  );
});

test("HEIC is named as such; text, HTML and nothing are no image", () => {
  expect(imageSignature(ftyp("heic", "mif1", "heic"))).toBe("heif");
  expect(imageSignature(Buffer.from("<html><body>hello</body></html>"))).toBeUndefined();
  expect(imageSignature(Buffer.from("GIF8"))).toBeUndefined();
  expect(imageSignature(Buffer.alloc(0))).toBeUndefined();
});
