/**
 * What a failed or kept image says to a person: a plain sentence with what to do, while the engine's own words
 * (with their stable code) stay available as the technical detail, for a tooltip and the CSV report.
 */
import { ErrorCode, formatBytes, formatName, type ItemResult } from "@imgc/proto";

export interface Explained {
  /** For people: what happened and what to do. */
  text: string;
  /** The code and the engine's message, as the report has them. */
  technical: string;
}

/** The input's format, from the result or else from what the engine's message names (vipsjpeg, libpng...). */
function inputFormatOf(result: ItemResult): string {
  const known = formatName(result.inputFormat);
  if (known) return known;
  const m = result.errorMessage.toLowerCase();
  if (/jpe?g/.test(m)) return "JPEG";
  if (/png/.test(m)) return "PNG";
  if (/webp/.test(m)) return "WebP";
  if (/heif|avif/.test(m)) return "AVIF";
  if (/gif/.test(m)) return "GIF";
  if (/tiff/.test(m)) return "TIFF";
  return "";
}

function codeName(code: ErrorCode): string {
  return ErrorCode[code] ?? "ERROR";
}

export function explainFailure(result: ItemResult): Explained {
  const technical = `${codeName(result.errorCode)}: ${result.errorMessage || "no details given"}`;
  const format = inputFormatOf(result);
  const text = ((): string => {
    switch (result.errorCode) {
      case ErrorCode.CORRUPT_INPUT:
        return `This ${format || "image"} is damaged; export it again.`;
      case ErrorCode.UNSUPPORTED_FORMAT:
        return "This file is not an image the cluster can read; save it as JPEG or PNG.";
      case ErrorCode.PIXEL_LIMIT:
        return "This image has too many pixels; make it smaller first.";
      case ErrorCode.FILE_TOO_LARGE:
        return "This file is too large for the cluster.";
      case ErrorCode.FRAME_LIMIT:
        return "This animation has too many frames.";
      case ErrorCode.TIMEOUT:
        return "This image took too long to compress; try again, or choose a faster format than AVIF.";
      case ErrorCode.SOURCE_NOT_FOUND:
        return "The uploaded original is gone from the cluster; add the file again.";
      case ErrorCode.STORAGE_UNAVAILABLE:
        return "The cluster's storage did not answer; try again.";
      case ErrorCode.CANCELLED:
        return "Cancelled before it was compressed.";
      case ErrorCode.INVALID_OPTIONS:
        return tooBig(result.errorMessage) ?? "These options cannot be used for this image; change them and retry.";
      default:
        return "Something went wrong on the cluster; try again.";
    }
  })();
  return { text, technical };
}

/** "The smallest WebP output is 50524 bytes, over the limit of 50000 bytes" said in kilobytes, with the way out. */
function tooBig(message: string): string | undefined {
  const m = /smallest (\S+) output is (\d+) bytes(?:, over the limit of (\d+) bytes)?/.exec(message);
  if (!m) return undefined;
  const limit = m[3] ? ` the ${formatBytes(Number(m[3]))} limit` : " the size limit";
  return `Even the smallest ${m[1]} (${formatBytes(Number(m[2]))}) is over${limit}: raise the limit, or set smaller dimensions.`;
}

/** Why the original was kept: "already as small as it gets (197 KB; the best WebP was 173 KB larger)". */
export function explainKept(result: ItemResult): Explained {
  const technical = result.keptReason || "Compression did not make it smaller.";
  const m = /The (\S+) output \((\d+) bytes\) was not smaller than the original \((\d+) bytes\)/.exec(technical);
  if (!m) return { text: `Original kept: already as small as it gets. ${technical}`, technical };
  const best = Number(m[2]);
  const original = Number(m[3]);
  const diff = best - original;
  const how = diff > 0 ? `${formatBytes(diff)} larger` : "no smaller";
  return {
    text: `Original kept: already as small as it gets (${formatBytes(original)}; the best ${m[1]} was ${how}).`,
    technical,
  };
}
