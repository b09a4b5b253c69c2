/**
 * One image's line in a batch, from the moment it is dropped to its result: the phase it is in and the words
 * the page uses for it.
 */
import { ErrorCode, ImageFormat, type ItemResult, ItemState } from "@imgc/proto";
import type { ImageKind } from "./file-check.js";

export type Phase =
  | "ready"
  | "refused"
  | "uploading"
  | "uploaded"
  | "upload-failed"
  | "queued"
  | "done"
  | "kept"
  | "failed";

export interface Row {
  readonly id: number;
  name: string;
  /** Bytes before compression. */
  size: number;
  /** The dropped file, while this page holds it (not after a reload). */
  file?: File;
  kind?: ImageKind;
  phase: Phase;
  /** Bytes uploaded so far. */
  loaded: number;
  /** Why the file was refused or its upload failed. */
  note: string;
  /** The object key of the upload, which is the item's source_key. */
  key?: string;
  result?: ItemResult;
}

let nextId = 1;

export function newRow(fields: Omit<Row, "id" | "loaded" | "note"> & Partial<Pick<Row, "note">>): Row {
  return { loaded: 0, note: "", ...fields, id: nextId++ };
}

/** The file name at the end of an object key ("uploads/t/abc/cat.png" → "cat.png"). */
export function baseName(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1) || key;
}

export function isFinished(row: Row): boolean {
  return row.phase === "done" || row.phase === "kept" || row.phase === "failed";
}

export function hasOutput(row: Row): boolean {
  return row.phase === "done" || row.phase === "kept";
}

/** Takes an item's result (a terminal one from WatchJob, or whatever GetResults says). */
export function applyResult(row: Row, result: ItemResult): void {
  if (isFinished(row) && (result.state === ItemState.PENDING || result.state === ItemState.RUNNING)) return;
  row.result = result;
  row.key ??= result.sourceKey;
  if (result.inputBytes > 0n) row.size = Number(result.inputBytes);
  switch (result.state) {
    case ItemState.DONE:
      row.phase = "done";
      break;
    case ItemState.KEPT_ORIGINAL:
      row.phase = "kept";
      break;
    case ItemState.FAILED:
      row.phase = "failed";
      break;
    default:
      row.phase = "queued";
  }
}

const formatNames: Partial<Record<ImageFormat, string>> = {
  [ImageFormat.JPEG]: "JPEG",
  [ImageFormat.WEBP]: "WebP",
  [ImageFormat.AVIF]: "AVIF",
  [ImageFormat.PNG]: "PNG",
  [ImageFormat.GIF]: "GIF",
  [ImageFormat.TIFF]: "TIFF",
  [ImageFormat.SVG]: "SVG",
};

const extensions: Partial<Record<ImageFormat, string>> = {
  [ImageFormat.JPEG]: "jpg",
  [ImageFormat.WEBP]: "webp",
  [ImageFormat.AVIF]: "avif",
  [ImageFormat.PNG]: "png",
  [ImageFormat.GIF]: "gif",
  [ImageFormat.TIFF]: "tiff",
  [ImageFormat.SVG]: "svg",
};

export function formatName(format: ImageFormat): string {
  return formatNames[format] ?? "";
}

/** The name a downloaded result gets: the original's name with the output's extension. */
export function outputName(row: Row): string {
  const ext = (row.result && extensions[row.result.format]) || row.result?.outputKey.split(".").pop() || "";
  const stem = row.name.replace(/\.[^.]+$/, "");
  return ext ? `${stem}.${ext}` : row.name;
}

export function errorCodeName(code: ErrorCode): string {
  return ErrorCode[code] ?? "ERROR";
}

/** The state column. */
export function phaseLabel(row: Row): string {
  switch (row.phase) {
    case "ready":
      return "Ready";
    case "refused":
      return "Refused";
    case "uploading":
      return row.size > 0 ? `Uploading ${Math.floor((row.loaded / row.size) * 100)}%` : "Uploading";
    case "uploaded":
      return "Uploaded";
    case "upload-failed":
      return "Upload failed";
    case "queued":
      return "Queued";
    case "done":
      return "Done";
    case "kept":
      return "Kept original";
    case "failed":
      return row.result?.errorCode === ErrorCode.CANCELLED ? "Cancelled" : "Failed";
  }
}

/** The line under the file name: what was made, or what went wrong. */
export function detailOf(row: Row): string {
  const r = row.result;
  switch (row.phase) {
    case "ready":
    case "uploading":
    case "uploaded":
      return row.kind ? row.kind.toUpperCase() : "";
    case "refused":
    case "upload-failed":
      return row.note;
    case "queued":
      return "Waiting for a worker";
    case "kept":
      return r?.keptReason || "Compression did not make it smaller, so the original was kept.";
    case "failed":
      if (!r) return row.note;
      return `${errorCodeName(r.errorCode)}: ${r.errorMessage || "no details given"}`;
    case "done": {
      if (!r) return "";
      const parts = [`${r.width}×${r.height}`, formatName(r.format)];
      if (r.quality > 0) parts.push(`q${r.quality}`);
      else parts.push("lossless");
      if (r.ssim > 0) parts.push(`SSIM ${r.ssim.toFixed(3)}`);
      if (r.cacheHit) parts.push("from cache");
      return parts.filter(Boolean).join(" · ");
    }
  }
}
