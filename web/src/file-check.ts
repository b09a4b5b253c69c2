/**
 * Refuses, before any byte is uploaded, a file that is too large or is not an image the cluster reads.
 * The check reads the file's first bytes: names and MIME types lie (a font renamed .jpg, a camera's .JPG
 * that is really HEIC), magic numbers rarely do. Files that look right but are damaged inside still go up:
 * only a decoder can tell, and the worker reports them as that item's error.
 */
import { formatBytes, formatInfo, ImageFormat, type InputFormat } from "@imgc/proto";

/** The largest file the page sends. The gateway checks again (CreateUploads) and may be stricter. */
export const maxFileBytes = 50 * 1000 * 1000;

export type ImageKind = "jpeg" | "png" | "webp" | "avif" | "gif" | "tiff" | "svg";

export type FileCheck = { ok: true; kind: ImageKind } | { ok: false; reason: string };

const formatOf: Record<ImageKind, InputFormat> = {
  jpeg: ImageFormat.JPEG,
  png: ImageFormat.PNG,
  webp: ImageFormat.WEBP,
  avif: ImageFormat.AVIF,
  gif: ImageFormat.GIF,
  tiff: ImageFormat.TIFF,
  svg: ImageFormat.SVG,
};

/** The content type an upload of this kind declares. */
export function mimeType(kind: ImageKind): string {
  return formatInfo(formatOf[kind]).contentType;
}

function ascii(bytes: Uint8Array, from: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(from, from + length));
}

/** What the leading bytes say the file is: an image kind, "heic" (readable by no worker), or null. */
export function sniff(bytes: Uint8Array): ImageKind | "heic" | null {
  const at = (i: number) => bytes[i] ?? -1;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return "jpeg";
  if (ascii(bytes, 0, 8) === "\x89PNG\r\n\x1a\n") return "png";
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") return "webp";
  if (ascii(bytes, 0, 6) === "GIF87a" || ascii(bytes, 0, 6) === "GIF89a") return "gif";
  if (ascii(bytes, 0, 4) === "II*\0" || ascii(bytes, 0, 4) === "MM\0*") return "tiff";
  if (ascii(bytes, 4, 4) === "ftyp") {
    const brand = ascii(bytes, 8, 4);
    if (brand === "avif" || brand === "avis") return "avif";
    if (/^(heic|heix|hevc|hevx|heim|heis|mif1|msf1)$/.test(brand)) {
      // mif1 is the generic HEIF brand; AVIF files may carry it too, so look for "avif" among the compatible brands.
      return ascii(bytes, 16, 32).includes("avif") ? "avif" : "heic";
    }
    return null;
  }
  const text = new TextDecoder("utf-8", { fatal: false })
    .decode(bytes.subarray(0, 1024))
    .replace(/^\uFEFF/, "")
    .trimStart();
  if (/^<svg[\s>]/i.test(text)) return "svg";
  if (/^<\?xml|^<!--|^<!doctype svg/i.test(text) && /<svg[\s>]/i.test(text)) return "svg";
  return null;
}

async function head(file: Blob, length: number): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, length).arrayBuffer());
}

export async function checkFile(file: File, limit = maxFileBytes): Promise<FileCheck> {
  if (file.size === 0) return { ok: false, reason: "Empty file: there is nothing to compress." };
  if (file.size > limit) {
    return {
      ok: false,
      reason: `Too large: ${formatBytes(file.size)}, and the limit is ${formatBytes(limit)} per file.`,
    };
  }
  const kind = sniff(await head(file, 1024));
  if (kind === "heic") {
    return { ok: false, reason: "HEIC/HEIF is not supported: export the photo as JPEG first." };
  }
  if (kind === null) {
    return {
      ok: false,
      reason: "Not an image: only JPEG, PNG, WebP, AVIF, GIF, TIFF and SVG files can be compressed.",
    };
  }
  return { ok: true, kind };
}
