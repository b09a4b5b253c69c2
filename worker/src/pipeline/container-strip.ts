import { crc32 } from "node:zlib";
import { ImageFormat } from "@imgc/proto";
import type { Copyright } from "./metadata.js";

/**
 * What a stripped original keeps besides its pixels: the EXIF orientation (so that it still displays upright:
 * a kept original is never re-oriented) and, under strip-keep-copyright, Copyright and Artist.
 */
export interface KeptTags extends Copyright {
  orientation: number;
}

const EXIF_HEADER = Buffer.from("Exif\0\0", "latin1");

/**
 * A minimal big-endian TIFF structure holding only IFD0's Orientation (when not 1), Artist and Copyright:
 * what a stripped original may carry. Undefined when there is nothing to carry.
 */
export const minimalExif = (tags: KeptTags): Buffer | undefined => {
  const entries: { tag: number; type: number; value: Buffer }[] = [];
  if (tags.orientation > 1 && tags.orientation <= 8) {
    const v = Buffer.alloc(2);
    v.writeUInt16BE(tags.orientation);
    entries.push({ tag: 0x0112, type: 3, value: v });
  }
  if (tags.Artist) entries.push({ tag: 0x013b, type: 2, value: Buffer.from(`${tags.Artist}\0`, "utf8") });
  if (tags.Copyright) entries.push({ tag: 0x8298, type: 2, value: Buffer.from(`${tags.Copyright}\0`, "utf8") });
  if (entries.length === 0) return undefined;
  const ifdSize = 2 + entries.length * 12 + 4;
  const header = Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]);
  const ifd = Buffer.alloc(ifdSize);
  const data: Buffer[] = [];
  let dataAt = 8 + ifdSize;
  ifd.writeUInt16BE(entries.length, 0);
  entries.forEach((e, i) => {
    const at = 2 + i * 12;
    ifd.writeUInt16BE(e.tag, at);
    ifd.writeUInt16BE(e.type, at + 2);
    ifd.writeUInt32BE(e.type === 3 ? 1 : e.value.length, at + 4);
    if (e.value.length <= 4) e.value.copy(ifd, at + 8);
    else {
      ifd.writeUInt32BE(dataAt, at + 8);
      data.push(e.value);
      dataAt += e.value.length + (e.value.length % 2); // values start on a word boundary
      if (e.value.length % 2) data.push(Buffer.alloc(1));
    }
  });
  return Buffer.concat([header, ifd, ...data]);
};

// JPEG markers a stripped file keeps before its image data: JFIF/JFXX (APP0), the ICC profile (APP2
// "ICC_PROFILE"), and Adobe (APP14), whose transform flag decides how CMYK/YCCK data is read. Every other
// APPn (EXIF and XMP in APP1, Photoshop/IPTC in APP13, maker data) and comments (COM) go.
const keptJpegApp = (marker: number, body: Buffer): boolean =>
  marker === 0xe0 ||
  marker === 0xee ||
  (marker === 0xe2 && body.subarray(0, 12).toString("latin1") === "ICC_PROFILE\0");

const stripJpeg = (input: Buffer, exif: Buffer | undefined): Buffer | undefined => {
  const parts: Buffer[] = [input.subarray(0, 2)];
  let at = 2;
  let exifWritten = exif === undefined;
  const writeExif = () => {
    if (exifWritten || !exif) return;
    const body = Buffer.concat([EXIF_HEADER, exif]);
    const segment = Buffer.alloc(4);
    segment.writeUInt16BE(0xffe1, 0);
    segment.writeUInt16BE(body.length + 2, 2);
    parts.push(segment, body);
    exifWritten = true;
  };
  for (;;) {
    if (at + 4 > input.length || input[at] !== 0xff) return undefined;
    const marker = input[at + 1] as number;
    if (marker === 0xff) {
      at++;
      continue;
    }
    // Start of scan (or anything past the header segments): the rest is image data, copied as it is.
    if (marker === 0xda || !((marker >= 0xe0 && marker <= 0xef) || marker === 0xfe || marker >= 0xc0)) {
      writeExif();
      parts.push(input.subarray(at));
      return Buffer.concat(parts);
    }
    const length = input.readUInt16BE(at + 2);
    const end = at + 2 + length;
    if (end > input.length) return undefined;
    const isApp = marker >= 0xe0 && marker <= 0xef;
    if (isApp || marker === 0xfe) {
      if (isApp && keptJpegApp(marker, input.subarray(at + 4, end))) parts.push(input.subarray(at, end));
      // EXIF goes right after JFIF, where readers look for it.
      if (marker === 0xe0) writeExif();
    } else {
      writeExif();
      parts.push(input.subarray(at, end));
    }
    at = end;
  }
};

/** A PNG chunk: length, type, data, CRC-32 of type and data. */
export const pngChunk = (type: string, data: Buffer): Buffer => {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
};

// PNG chunks that change how the pixels look or move (colour, transparency, animation, density) stay; text
// (tEXt, zTXt, iTXt: comments, XMP), eXIf and tIME go, as does any unknown ancillary chunk.
const keptPngChunks = new Set([
  "IHDR",
  "PLTE",
  "IDAT",
  "IEND",
  "tRNS",
  "gAMA",
  "cHRM",
  "sRGB",
  "iCCP",
  "cICP",
  "mDCV",
  "cLLI",
  "sBIT",
  "bKGD",
  "pHYs",
  "acTL",
  "fcTL",
  "fdAT",
]);

const stripPng = (input: Buffer, exif: Buffer | undefined): Buffer | undefined => {
  const parts: Buffer[] = [input.subarray(0, 8)];
  let at = 8;
  while (at + 12 <= input.length) {
    const length = input.readUInt32BE(at);
    const type = input.subarray(at + 4, at + 8).toString("latin1");
    const end = at + 12 + length;
    if (end > input.length) return undefined;
    if (keptPngChunks.has(type)) parts.push(input.subarray(at, end));
    // eXIf must come before IDAT.
    if (type === "IHDR" && exif) parts.push(pngChunk("eXIf", exif));
    at = end;
    if (type === "IEND") return Buffer.concat(parts);
  }
  return undefined;
};

const riffChunk = (type: string, data: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head.write(type, 0, "latin1");
  head.writeUInt32LE(data.length, 4);
  return Buffer.concat([head, data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
};

const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;

const stripWebp = (input: Buffer, exif: Buffer | undefined): Buffer | undefined => {
  const parts: Buffer[] = [];
  let at = 12;
  let extended = false;
  while (at + 8 <= input.length) {
    const type = input.subarray(at, at + 4).toString("latin1");
    const size = input.readUInt32LE(at + 4);
    const end = at + 8 + size + (size % 2);
    if (at + 8 + size > input.length) return undefined;
    if (type === "VP8X") {
      extended = true;
      const chunk = Buffer.from(input.subarray(at, at + 8 + size));
      chunk[8] = ((chunk[8] as number) & ~(VP8X_EXIF | VP8X_XMP)) | (exif ? VP8X_EXIF : 0);
      parts.push(chunk);
    } else if (type !== "EXIF" && type !== "XMP ") parts.push(input.subarray(at, Math.min(end, input.length)));
    at = end;
  }
  // A simple (not extended) WebP has no place for metadata and carries none.
  if (extended && exif) parts.push(riffChunk("EXIF", exif));
  const body = Buffer.concat(parts);
  const head = Buffer.from("RIFF\0\0\0\0WEBP", "latin1");
  head.writeUInt32LE(body.length + 4, 4);
  return Buffer.concat([head, body]);
};

/**
 * The original file with its metadata removed at the container level, nothing re-encoded: the pixels and the
 * colour profile are the original's, bit for bit. Only the tags of `kept` survive, in a fresh minimal EXIF.
 * JPEG, PNG and WebP only; undefined for any other format or a container it cannot walk.
 */
export const stripContainer = (input: Buffer, format: ImageFormat, kept: KeptTags): Buffer | undefined => {
  const exif = minimalExif(kept);
  switch (format) {
    case ImageFormat.JPEG:
      return stripJpeg(input, exif);
    case ImageFormat.PNG:
      return stripPng(input, exif);
    case ImageFormat.WEBP:
      return stripWebp(input, exif);
    default:
      return undefined;
  }
};
