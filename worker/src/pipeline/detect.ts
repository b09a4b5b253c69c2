import { ErrorCode, ImageFormat, type InputFormat } from "@imgc/proto";
import { fail } from "./errors.js";

const startsWith = (bytes: Buffer, signature: readonly number[], at = 0): boolean =>
  bytes.length >= at + signature.length && signature.every((b, i) => bytes[at + i] === b);

const ascii = (bytes: Buffer, from: number, to: number): string => bytes.subarray(from, to).toString("latin1");

// ISO-BMFF brands (major and compatible) that carry an AV1 image. HEIC (HEVC) is not among them: the
// bundled libheif cannot decode it, so it must fail as unsupported rather than as a damaged file.
const avifBrands = new Set(["avif", "avis"]);

const isAvif = (bytes: Buffer): boolean => {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== "ftyp") return false;
  const boxSize = Math.min(bytes.readUInt32BE(0), bytes.length, 4096);
  for (let at = 8; at + 4 <= boxSize; at += 4) {
    if (at === 12) continue; // the minor version, not a brand
    if (avifBrands.has(ascii(bytes, at, at + 4))) return true;
  }
  return false;
};

// SVG is text: look for an <svg element near the start, after an optional BOM, XML declaration,
// comments and doctype.
const isSvg = (bytes: Buffer): boolean => {
  const head = bytes
    .subarray(0, 4096)
    .toString("utf8")
    .replace(/^\uFEFF/, "")
    .trimStart();
  if (!head.startsWith("<")) return false;
  return /<svg[\s>]/i.test(head);
};

// SOF markers: 0xC0–0xCF except DHT (C4), JPG (C8) and DAC (CC).
const isSof = (marker: number): boolean =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * The sample precision a JPEG's frame header declares (8, 12 or 16), walking the marker segments up to the
 * first SOF; undefined when none is found in the bytes given (a damaged file: decoding will say so).
 */
export const jpegPrecision = (bytes: Buffer): number | undefined => {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (isSof(marker)) return at + 4 < bytes.length ? bytes[at + 4] : undefined;
    if (marker === 0xd9 || marker === 0xda) return undefined;
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  return undefined;
};

/**
 * The input's format from its first bytes; the file name and any declared content type are ignored, so a
 * wrong extension changes nothing. Anything else fails with UNSUPPORTED_FORMAT.
 */
export const detectFormat = (bytes: Buffer): InputFormat => {
  if (bytes.length === 0) return fail(ErrorCode.UNSUPPORTED_FORMAT, "The file is empty (0 bytes)");
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) {
    // The bundled libjpeg-turbo decodes 8-bit JPEG only: a 12-bit (medical, some cameras' raw previews) or
    // 16-bit lossless one is a valid file the engine cannot read, not a damaged one.
    const precision = jpegPrecision(bytes);
    if (precision !== undefined && precision !== 8) {
      fail(
        ErrorCode.UNSUPPORTED_FORMAT,
        `The JPEG has ${precision} bits per sample; only 8-bit JPEG is supported (convert it to 8-bit or PNG first)`,
      );
    }
    return ImageFormat.JPEG;
  }
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return ImageFormat.PNG;
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return ImageFormat.WEBP;
  if (ascii(bytes, 0, 6) === "GIF87a" || ascii(bytes, 0, 6) === "GIF89a") return ImageFormat.GIF;
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return ImageFormat.TIFF;
  }
  if (isAvif(bytes)) return ImageFormat.AVIF;
  if (ascii(bytes, 4, 8) === "ftyp") {
    return fail(ErrorCode.UNSUPPORTED_FORMAT, "HEIC/HEIF images are not supported (only AVIF in that container)");
  }
  if (isSvg(bytes)) return ImageFormat.SVG;
  return fail(
    ErrorCode.UNSUPPORTED_FORMAT,
    "The file is not an image in a supported format (JPEG, PNG, WebP, AVIF, GIF, TIFF or SVG)",
  );
};
