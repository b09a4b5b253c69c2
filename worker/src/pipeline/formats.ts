import { ImageFormat } from "@imgc/proto";

/** The formats the engine writes. */
export type OutputFormat = ImageFormat.JPEG | ImageFormat.WEBP | ImageFormat.AVIF | ImageFormat.PNG;

/** The formats the engine reads. */
export type InputFormat = OutputFormat | ImageFormat.GIF | ImageFormat.TIFF | ImageFormat.SVG;

interface FormatInfo {
  readonly name: string;
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

export const formatInfo = (format: InputFormat): FormatInfo => info[format];

export const isOutputFormat = (format: ImageFormat): format is OutputFormat =>
  format === ImageFormat.JPEG ||
  format === ImageFormat.WEBP ||
  format === ImageFormat.AVIF ||
  format === ImageFormat.PNG;
