import { imageSignature, READABLE_FORMATS } from "@imgc/common";
import { ErrorCode, ImageFormat, type InputFormat } from "@imgc/proto";
import { fail } from "./errors.js";

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
  const format = imageSignature(bytes);
  if (format === ImageFormat.JPEG) {
    // The bundled libjpeg-turbo decodes 8-bit JPEG only: a 12-bit (medical, some cameras' raw previews) or
    // 16-bit lossless one is a valid file the engine cannot read, not a damaged one.
    const precision = jpegPrecision(bytes);
    if (precision !== undefined && precision !== 8) {
      fail(
        ErrorCode.UNSUPPORTED_FORMAT,
        `The JPEG has ${precision} bits per sample; only 8-bit JPEG is supported (convert it to 8-bit or PNG first)`,
      );
    }
  }
  if (format === "heif") {
    return fail(ErrorCode.UNSUPPORTED_FORMAT, "HEIC/HEIF images are not supported (only AVIF in that container)");
  }
  if (format === undefined) {
    return fail(ErrorCode.UNSUPPORTED_FORMAT, `The file is not an image in a supported format (${READABLE_FORMATS})`);
  }
  return format;
};
