/**
 * One image's line in a batch, from the moment it is dropped to its result: the phase it is in and the words
 * the page uses for it.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  detectedLabels,
  ErrorCode,
  formatName,
  type ItemResult,
  ItemState,
  isTerminalItemState,
  outputFileName,
} from "@imgc/proto";
import type { ImageKind } from "./file-check.js";
import { formatDuration } from "./format.js";
import { explainFailure, explainKept } from "./messages.js";

export type Phase =
  | "ready"
  | "refused"
  | "uploading"
  | "uploaded"
  | "upload-failed"
  | "queued"
  | "running"
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
  // A detection-only item is done without an output: nothing to compare or download.
  const detectedOnly = row.result?.detection !== undefined && row.result.outputKey === "";
  return (row.phase === "done" || row.phase === "kept") && !detectedOnly;
}

/** Takes an item's result (from WatchJob, a RUNNING one included, or whatever GetResults says). */
export function applyResult(row: Row, result: ItemResult): void {
  if (isFinished(row) && !isTerminalItemState(result.state)) return;
  // GetResults knows no more than "not finished" for a running item: the RUNNING event said more.
  if (row.phase === "running" && result.state === ItemState.PENDING) return;
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
    case ItemState.RUNNING:
      row.phase = "running";
      break;
    default:
      row.phase = "queued";
  }
}

/** The labels detection found in the row's image, each once, the most confident first. */
export function labelsOf(row: Row): string[] {
  return detectedLabels(row.result?.detection);
}

/** The name a downloaded result gets: the original's name with the output's extension. */
export function outputName(row: Row): string {
  return row.result ? outputFileName(row.name, row.result) : row.name;
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
    case "running":
      // A RUNNING event of detection carries an (empty) detection; a job with both tasks shows the last begun.
      return row.result?.detection ? "Detecting objects" : "Compressing";
    case "done":
      return "Done";
    case "kept":
      return "Kept original";
    case "failed":
      return row.result?.errorCode === ErrorCode.CANCELLED ? "Cancelled" : "Failed";
  }
}

/** When the row's worker started it (ms since the epoch), for RUNNING rows that say so. */
export function startedAtMs(row: Row): number | undefined {
  const at = row.phase === "running" ? row.result?.startedAt : undefined;
  return at ? timestampMs(at) : undefined;
}

/** The line under the file name: what was made, or what went wrong, in words for people. */
export function detailOf(row: Row, now = Date.now()): string {
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
    case "running": {
      const started = startedAtMs(row);
      const on = r?.workerId ? `On ${r.workerId}` : "On a worker";
      return started === undefined ? on : `${on} · ${formatDuration(Math.max(0, now - started))}`;
    }
    case "kept":
      return r ? explainKept(r).text : "Original kept: already as small as it gets.";
    case "failed":
      return r ? explainFailure(r).text : row.note;
    case "done": {
      if (!r) return "";
      // A byte budget met by shrinking (shrink_to_fit) is said first: the dimensions are not what was dropped.
      const size = r.shrunkToFit ? `Resized to ${r.width}×${r.height} to fit` : `${r.width}×${r.height}`;
      const parts = [size, formatName(r.format)];
      if (r.quality > 0) parts.push(`q${r.quality}`);
      else parts.push("lossless");
      if (r.ssim > 0) parts.push(`SSIM ${r.ssim.toFixed(3)}`);
      if (r.cacheHit) parts.push("from cache");
      if (r.workerId) parts.push(r.workerId);
      return parts.filter(Boolean).join(" · ");
    }
  }
}

/** The tooltip of the detail line: the technical words behind a plain message. */
export function technicalDetailOf(row: Row): string {
  const r = row.result;
  if (row.phase === "failed" && r) return explainFailure(r).technical;
  if (row.phase === "kept" && r) return explainKept(r).technical;
  // The worker's remark on a done item ("Resized from 2725×2225 to 1408×1150 to fit 50 KB").
  if (row.phase === "done" && r?.note) return `${detailOf(row)} — ${r.note}`;
  return detailOf(row);
}
