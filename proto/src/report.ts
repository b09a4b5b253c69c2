/**
 * A job's report, one document wherever it is made: the coordinator's `reports/<tenant>/<job>.csv` written at
 * job end, the gateway's `report.csv` / `report.json` / the `report.csv` inside `results.zip`, and
 * `imgc results --csv`. One row per item (what went in, what came out, what it saved, or why it failed), then
 * a TOTAL row; the cells escaped one way, formulas defused, so a spreadsheet never runs a cell.
 */
import type { Box, ItemResult } from "../gen/imgc/v1/job_pb.js";
import { ErrorCode, ItemState } from "../gen/imgc/v1/job_pb.js";
import { ImageFormat } from "../gen/imgc/v1/options_pb.js";
import { detectedLabels, LABEL_SEPARATOR } from "./detections.js";
import { createOutputNamer } from "./output-name.js";

/**
 * The report's path inside results.zip: a folder of its own, so that the photos unpack alone; reserved before any
 * output is named (no output name holds a "/", so none can shadow it anyway).
 */
export const REPORT_ENTRY = "report/report.csv";

export interface ReportRow {
  itemId: string;
  sourceKey: string;
  /** The output's file name (as in results.zip); empty for items without an output. */
  name: string;
  state: string;
  inputBytes: number;
  outputBytes: number | null;
  bytesSaved: number | null;
  savingPercent: number | null;
  format: string | null;
  width: number | null;
  height: number | null;
  quality: number | null;
  ssim: number | null;
  durationMs: number | null;
  workerId: string | null;
  cacheHit: boolean | null;
  errorCode: string | null;
  errorMessage: string | null;
  keptReason: string | null;
  outputKey: string | null;
  /** Present only when the results were asked for with presigned URLs (`imgc results --csv --urls`). */
  downloadUrl: string | null;
  /**
   * The output's width and height before it was shrunk to fit the byte budget (shrink_to_fit; width and height
   * are what it became); null when it was not shrunk.
   */
  shrunkFromWidth: number | null;
  shrunkFromHeight: number | null;
  /** The distinct labels detection found ("person;cup" in the CSV); null when the job did not detect. */
  labels: string[] | null;
  /** Every object detection found, with its boxes in the source and (when there is one) in the output. */
  detections: ReportDetection[] | null;
}

export interface ReportDetection {
  label: string;
  score: number;
  sourceBox: ReportBox | null;
  box: ReportBox | null;
}

interface ReportBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ReportTotals {
  items: number;
  done: number;
  keptOriginal: number;
  failed: number;
  /** Items without a result yet (the job is still running). */
  pending: number;
  /** Over the items that came out (DONE or KEPT_ORIGINAL). */
  inputBytes: number;
  outputBytes: number;
  bytesSaved: number;
  savingPercent: number | null;
}

/** The enum value's name without its prefix (`ImageFormat.WEBP` → "WEBP"); the number if unknown. */
const enumName = (names: Record<number, string>, value: number) => names[value] ?? String(value);

const box = (b: Box | undefined) => (b ? { x: b.x, y: b.y, width: b.width, height: b.height } : null);

const percent = (saved: number, input: number) => (input > 0 ? Math.round((saved / input) * 1000) / 10 : null);

/** Whether the item came out with a file to download (DONE, or KEPT_ORIGINAL with its copy). */
export function hasOutput(result: ItemResult): boolean {
  return (result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL) && result.outputKey !== "";
}

/** Accumulates rows and totals over a job's results, in item order; output names are unique within it. */
export function createReport() {
  const nameFor = createOutputNamer([REPORT_ENTRY]);
  const totals: ReportTotals = {
    items: 0,
    done: 0,
    keptOriginal: 0,
    failed: 0,
    pending: 0,
    inputBytes: 0,
    outputBytes: 0,
    bytesSaved: 0,
    savingPercent: null,
  };
  return {
    row(result: ItemResult): ReportRow {
      const output = hasOutput(result);
      const failed = result.state === ItemState.FAILED;
      const inputBytes = Number(result.inputBytes);
      const outputBytes = Number(result.outputBytes);
      totals.items++;
      if (result.state === ItemState.DONE) totals.done++;
      else if (result.state === ItemState.KEPT_ORIGINAL) totals.keptOriginal++;
      else if (failed) totals.failed++;
      else totals.pending++;
      if (output) {
        totals.inputBytes += inputBytes;
        totals.outputBytes += outputBytes;
      }
      return {
        itemId: result.itemId,
        sourceKey: result.sourceKey,
        name: output ? nameFor(result.sourceKey, result) : "",
        state: enumName(ItemState, result.state),
        inputBytes,
        outputBytes: output ? outputBytes : null,
        bytesSaved: output ? inputBytes - outputBytes : null,
        savingPercent: output ? percent(inputBytes - outputBytes, inputBytes) : null,
        format: result.format ? enumName(ImageFormat, result.format) : null,
        width: output && result.width ? result.width : null,
        height: output && result.height ? result.height : null,
        quality: output ? result.quality : null,
        ssim: output && result.ssim ? Math.round(result.ssim * 10_000) / 10_000 : null,
        durationMs: result.durationMs || null,
        workerId: result.workerId || null,
        cacheHit: output ? result.cacheHit : null,
        errorCode: failed ? enumName(ErrorCode, result.errorCode) : null,
        errorMessage: failed ? result.errorMessage : null,
        keptReason: result.keptReason || null,
        outputKey: output ? result.outputKey : null,
        downloadUrl: result.downloadUrl || null,
        shrunkFromWidth: output && result.shrunkToFit ? result.shrunkFromWidth : null,
        shrunkFromHeight: output && result.shrunkToFit ? result.shrunkFromHeight : null,
        labels: result.detection ? detectedLabels(result.detection) : null,
        detections:
          result.detection?.objects.map((object) => ({
            label: object.label,
            score: Math.round(object.score * 1000) / 1000,
            sourceBox: box(object.sourceBox),
            box: box(object.box),
          })) ?? null,
      };
    },
    totals(): ReportTotals {
      const bytesSaved = totals.inputBytes - totals.outputBytes;
      return { ...totals, bytesSaved, savingPercent: percent(bytesSaved, totals.inputBytes) };
    },
  };
}

// ---- CSV ----

/** The CSV's columns, in order; `labels` stays last. */
export const CSV_COLUMNS = [
  "item_id",
  "source_key",
  "name",
  "state",
  "input_bytes",
  "output_bytes",
  "bytes_saved",
  "saving_percent",
  "format",
  "width",
  "height",
  "quality",
  "ssim",
  "duration_ms",
  "worker_id",
  "cache_hit",
  "error_code",
  "error_message",
  "kept_reason",
  "output_key",
  "download_url",
  "shrunk_from_width",
  "shrunk_from_height",
  "labels",
] as const;

type Cell = string | number | bigint | boolean | null;

/**
 * One CSV cell: RFC 4180 quoting, and text a spreadsheet would run as a formula (a leading = + - @, or a tab or
 * CR, which some strip before parsing) defused with a leading quote. Numbers are never text, so -12 stays -12.
 */
export function csvCell(value: Cell): string {
  if (value === null) return "";
  if (typeof value !== "string") return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const csvLine = (cells: readonly Cell[]) => `${cells.map(csvCell).join(",")}\r\n`;

export const csvHeader = (): string => csvLine(CSV_COLUMNS);

export function csvRow(row: ReportRow): string {
  return csvLine([
    row.itemId,
    row.sourceKey,
    row.name,
    row.state,
    row.inputBytes,
    row.outputBytes,
    row.bytesSaved,
    row.savingPercent,
    row.format,
    row.width,
    row.height,
    row.quality,
    row.ssim,
    row.durationMs,
    row.workerId,
    row.cacheHit,
    row.errorCode,
    row.errorMessage,
    row.keptReason,
    row.outputKey,
    row.downloadUrl,
    row.shrunkFromWidth,
    row.shrunkFromHeight,
    row.labels?.join(LABEL_SEPARATOR) ?? null,
  ]);
}

/** The last row: "TOTAL" in item_id, the item counts in state, the sums over the items that came out. */
export function csvTotals(totals: ReportTotals): string {
  const counts = `${totals.done} done, ${totals.keptOriginal} kept, ${totals.failed} failed, ${totals.pending} pending`;
  const cells: Cell[] = [
    "TOTAL",
    `${totals.items} items`,
    "",
    counts,
    totals.inputBytes,
    totals.outputBytes,
    totals.bytesSaved,
    totals.savingPercent,
  ];
  return csvLine([...cells, ...Array<Cell>(CSV_COLUMNS.length - cells.length).fill("")]);
}

/** The whole CSV of results already in memory: the header, a row per item, the TOTAL row. */
export function reportCsv(results: Iterable<ItemResult>): string {
  const report = createReport();
  let csv = csvHeader();
  for (const result of results) csv += csvRow(report.row(result));
  return csv + csvTotals(report.totals());
}
