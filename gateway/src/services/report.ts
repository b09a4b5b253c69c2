/**
 * A job's report, built from its GetResults pages as they come: one row per item (what went in, what came
 * out, what it saved, or why it failed) and totals at the end. The same rows feed `report.csv`,
 * `report.json` and the `report.csv` inside `results.zip`, so the three always agree, for running jobs too.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type Box,
  detectedLabels,
  ErrorCode,
  ImageFormat,
  type ItemResult,
  ItemState,
  type Job,
  JobState,
  LABEL_SEPARATOR,
} from "@imgc/proto";

export interface ReportRow {
  itemId: string;
  sourceKey: string;
  /** The output's file name in results.zip; empty for items without an output. */
  name: string;
  state: string;
  inputBytes: number;
  outputBytes: number | null;
  bytesSaved: number | null;
  savingPercent: number | null;
  format: string | null;
  quality: number | null;
  ssim: number | null;
  workerId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
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
const name = (names: Record<number, string>, value: number) => names[value] ?? String(value);

const box = (b: Box | undefined) => (b ? { x: b.x, y: b.y, width: b.width, height: b.height } : null);

const percent = (saved: number, input: number) => (input > 0 ? Math.round((saved / input) * 1000) / 10 : null);

export function hasOutput(result: ItemResult): boolean {
  return (result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL) && result.outputKey !== "";
}

/**
 * Output file names: the source's base name with the output's extension ("photo.jpg" → "photo.webp"),
 * made unique case-insensitively ("photo (2).webp"), so that a zip unpacks the same on every file system.
 */
export function createOutputNamer(reserved: readonly string[] = []) {
  const used = new Set(reserved.map((entry) => entry.toLowerCase()));
  return (sourceKey: string, outputKey: string): string => {
    const base = sourceKey.split("/").pop() ?? "";
    const dot = base.lastIndexOf(".");
    // Control characters and path separators have no place in an entry name; a dot file keeps its name.
    const stem =
      [...(dot > 0 ? base.slice(0, dot) : base)]
        .map((c) => (c < " " || c === "\u007f" || c === "\\" || c === ":" ? "_" : c))
        .join("") || "image";
    const extension = /\.[A-Za-z0-9]{1,8}$/.exec(outputKey)?.[0] ?? "";
    let candidate = `${stem}${extension}`;
    for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${stem} (${n})${extension}`;
    used.add(candidate.toLowerCase());
    return candidate;
  };
}

export const REPORT_ENTRY = "report.csv";

/** Accumulates rows and totals over a job's results, in item order. */
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
        name: output ? nameFor(result.sourceKey, result.outputKey) : "",
        state: name(ItemState, result.state),
        inputBytes,
        outputBytes: output ? outputBytes : null,
        bytesSaved: output ? inputBytes - outputBytes : null,
        savingPercent: output ? percent(inputBytes - outputBytes, inputBytes) : null,
        format: result.format ? name(ImageFormat, result.format) : null,
        quality: output ? result.quality : null,
        ssim: output && result.ssim ? Math.round(result.ssim * 10_000) / 10_000 : null,
        workerId: result.workerId || null,
        errorCode: failed ? name(ErrorCode, result.errorCode) : null,
        errorMessage: failed ? result.errorMessage : null,
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

export function jobSummary(job: Job | undefined) {
  const time = (timestamp: Job["createdAt"]) => (timestamp ? timestampDate(timestamp).toISOString() : null);
  return {
    id: job?.id ?? "",
    state: job ? name(JobState, job.state) : "UNSPECIFIED",
    label: job?.label ?? "",
    createdAt: time(job?.createdAt),
    finishedAt: time(job?.finishedAt),
  };
}

// ---- CSV ----

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
  "quality",
  "ssim",
  "worker_id",
  "error_code",
  "error_message",
  "labels",
] as const;

/** One CSV cell: RFC 4180 quoting, and text a spreadsheet would run as a formula defused with a quote. */
export function csvCell(value: string | number | null): string {
  if (value === null) return "";
  if (typeof value === "number") return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const csvLine = (cells: readonly (string | number | null)[]) => `${cells.map(csvCell).join(",")}\r\n`;

export const csvHeader = () => csvLine(CSV_COLUMNS);

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
    row.quality,
    row.ssim,
    row.workerId,
    row.errorCode,
    row.errorMessage,
    row.labels?.join(LABEL_SEPARATOR) ?? null,
  ]);
}

/** The last row: "TOTAL" in item_id, the item counts in state, the sums over the items that came out. */
export function csvTotals(totals: ReportTotals): string {
  const counts = `${totals.done} done, ${totals.keptOriginal} kept, ${totals.failed} failed, ${totals.pending} pending`;
  return csvLine([
    "TOTAL",
    `${totals.items} items`,
    "",
    counts,
    totals.inputBytes,
    totals.outputBytes,
    totals.bytesSaved,
    totals.savingPercent,
    "",
    "",
    "",
    "",
    "",
    "",
    "",
  ]);
}

// ---- streamed documents ----

/** `report.csv`: the header, a row per item, the totals row; pulled page by page, so memory stays flat. */
export async function* reportCsv(results: AsyncIterable<ItemResult>): AsyncGenerator<string> {
  const report = createReport();
  yield csvHeader();
  for await (const result of results) yield csvRow(report.row(result));
  yield csvTotals(report.totals());
}

/** `report.json`: `{"job":…,"items":[…],"totals":…}`, written as it is read. */
export async function* reportJson(job: Job | undefined, results: AsyncIterable<ItemResult>): AsyncGenerator<string> {
  const report = createReport();
  yield `{"job":${JSON.stringify(jobSummary(job))},"items":[`;
  let first = true;
  for await (const result of results) {
    yield `${first ? "" : ","}\n${JSON.stringify(report.row(result))}`;
    first = false;
  }
  yield `\n],"totals":${JSON.stringify(report.totals())}}\n`;
}
