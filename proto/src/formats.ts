/**
 * The image formats: what the engine reads and writes, their names on screen, their file extensions and
 * content types. Browser-safe, like everything in proto/src: the web client imports it too.
 */
import { ImageFormat } from "../gen/imgc/v1/options_pb.js";

/** The formats the engine writes. */
export type OutputFormat = ImageFormat.JPEG | ImageFormat.WEBP | ImageFormat.AVIF | ImageFormat.PNG;

/** The formats the engine reads. */
export type InputFormat = OutputFormat | ImageFormat.GIF | ImageFormat.TIFF | ImageFormat.SVG;

export interface FormatInfo {
  /** As people write it: "WebP". */
  readonly name: string;
  /** Of an output file, without the dot: "webp". */
  readonly extension: string;
  readonly contentType: string;
}

const info: Record<InputFormat, FormatInfo> = {
  [ImageFormat.JPEG]: { name: "JPEG", extension: "jpg", contentType: "image/jpeg" },
  [ImageFormat.WEBP]: { name: "WebP", extension: "webp", contentType: "image/webp" },
  [ImageFormat.AVIF]: { name: "AVIF", extension: "avif", contentType: "image/avif" },
  [ImageFormat.PNG]: { name: "PNG", extension: "png", contentType: "image/png" },
  [ImageFormat.GIF]: { name: "GIF", extension: "gif", contentType: "image/gif" },
  [ImageFormat.TIFF]: { name: "TIFF", extension: "tiff", contentType: "image/tiff" },
  [ImageFormat.SVG]: { name: "SVG", extension: "svg", contentType: "image/svg+xml" },
};

export const OUTPUT_FORMATS: readonly OutputFormat[] = [
  ImageFormat.JPEG,
  ImageFormat.WEBP,
  ImageFormat.AVIF,
  ImageFormat.PNG,
];

export const formatInfo = (format: InputFormat): FormatInfo => info[format];

export const isOutputFormat = (format: ImageFormat): format is OutputFormat =>
  (OUTPUT_FORMATS as readonly ImageFormat[]).includes(format);

const known = (format: ImageFormat): FormatInfo | undefined =>
  (info as Partial<Record<ImageFormat, FormatInfo>>)[format];

/** "WebP"; "" for AUTO, KEEP and unknown values. */
export const formatName = (format: ImageFormat): string => known(format)?.name ?? "";

/** "webp"; "" when the format names no file type. */
export const formatExtension = (format: ImageFormat): string => known(format)?.extension ?? "";

/**
 * Image files by extension, with the spellings cameras and tools use (.jpe, .tif) and the formats only some
 * workers decode (HEIC, HEIF): what a folder walk picks up and the content type an upload declares.
 */
const contentTypes: Readonly<Record<string, string>> = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".jpe": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".gif": "image/gif",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".svg": "image/svg+xml",
  ".heic": "image/heic",
  ".heif": "image/heif",
};

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(Object.keys(contentTypes));

/** ".jpg" for "a/b/Photo.JPG"; "" without one. */
export function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot).toLowerCase() : "";
}

/** The content type an image file's name says; application/octet-stream for anything else. */
export const contentTypeOf = (name: string): string => contentTypes[extensionOf(name)] ?? "application/octet-stream";
