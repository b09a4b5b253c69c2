/**
 * Which image format a file's first bytes say it is: its signature, never its name or declared type. The
 * worker decides with it what to decode (worker/src/pipeline/detect.ts); the coordinator, whether an upload
 * is an image the cluster reads at all before it becomes a source (a presigned slot takes any bytes).
 */
import { ImageFormat } from "@imgc/proto";

/** How many leading bytes the signature needs at most (an AVIF's brand list, an SVG's prolog). */
export const SIGNATURE_BYTES = 4096;

/** The formats the cluster reads, as error messages name them. */
export const READABLE_FORMATS = "JPEG, PNG, WebP, AVIF, GIF, TIFF or SVG";

export type SignedFormat =
  | ImageFormat.JPEG
  | ImageFormat.PNG
  | ImageFormat.WEBP
  | ImageFormat.GIF
  | ImageFormat.TIFF
  | ImageFormat.AVIF
  | ImageFormat.SVG;

const startsWith = (bytes: Uint8Array, signature: readonly number[], at = 0): boolean =>
  bytes.length >= at + signature.length && signature.every((b, i) => bytes[at + i] === b);

const ascii = (bytes: Uint8Array, from: number, to: number): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).subarray(from, to).toString("latin1");

// ISO-BMFF brands (major and compatible) that carry an AV1 image. HEIC (HEVC) is not among them: the
// bundled libheif cannot decode it, so it must fail as unsupported rather than as a damaged file.
const avifBrands = new Set(["avif", "avis"]);

const isAvif = (bytes: Uint8Array): boolean => {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== "ftyp") return false;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const boxSize = Math.min(view.readUInt32BE(0), bytes.length, SIGNATURE_BYTES);
  for (let at = 8; at + 4 <= boxSize; at += 4) {
    if (at === 12) continue; // the minor version, not a brand
    if (avifBrands.has(ascii(bytes, at, at + 4))) return true;
  }
  return false;
};

// SVG is text: look for an <svg element near the start, after an optional BOM, XML declaration,
// comments and doctype.
const isSvg = (bytes: Uint8Array): boolean => {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .subarray(0, SIGNATURE_BYTES)
    .toString("utf8")
    .replace(/^\uFEFF/, "")
    .trimStart();
  if (!head.startsWith("<")) return false;
  return /<svg[\s>]/i.test(head);
};

/**
 * The format the bytes start like; `heif` for an ISO-BMFF image that is not AVIF (HEIC: the cluster cannot
 * decode it); undefined for anything else.
 */
export function imageSignature(bytes: Uint8Array): SignedFormat | "heif" | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return ImageFormat.JPEG;
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return ImageFormat.PNG;
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return ImageFormat.WEBP;
  if (ascii(bytes, 0, 6) === "GIF87a" || ascii(bytes, 0, 6) === "GIF89a") return ImageFormat.GIF;
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return ImageFormat.TIFF;
  }
  if (isAvif(bytes)) return ImageFormat.AVIF;
  if (ascii(bytes, 4, 8) === "ftyp") return "heif";
  if (isSvg(bytes)) return ImageFormat.SVG;
  return undefined;
}
