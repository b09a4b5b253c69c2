/** How image formats are named on the page and in downloaded file names. */
import { ImageFormat } from "@imgc/proto";

const names: Partial<Record<ImageFormat, [name: string, extension: string]>> = {
  [ImageFormat.JPEG]: ["JPEG", "jpg"],
  [ImageFormat.WEBP]: ["WebP", "webp"],
  [ImageFormat.AVIF]: ["AVIF", "avif"],
  [ImageFormat.PNG]: ["PNG", "png"],
  [ImageFormat.GIF]: ["GIF", "gif"],
  [ImageFormat.TIFF]: ["TIFF", "tiff"],
  [ImageFormat.SVG]: ["SVG", "svg"],
};

/** "WebP"; "" for AUTO, KEEP and unknown values. */
export function formatName(format: ImageFormat): string {
  return names[format]?.[0] ?? "";
}

/** "webp"; "" when the format names no file type. */
export function formatExtension(format: ImageFormat): string {
  return names[format]?.[1] ?? "";
}
