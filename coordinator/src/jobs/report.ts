/**
 * The job report written when a job ends: `reports/<tenant>/<job>.json` (results + totals) and `.csv`. Detection's
 * labels are a CSV column ("person;cup"); the JSON's items carry `detection` with every object and its boxes.
 */
import { toJson } from "@bufbuild/protobuf";
import {
  detectedLabels,
  ErrorCode,
  ImageFormat,
  type ItemResult,
  ItemResultSchema,
  ItemState,
  type Job,
  JobSchema,
  LABEL_SEPARATOR,
} from "@imgc/proto";

const CSV_COLUMNS = [
  "item_id",
  "source_key",
  "state",
  "output_key",
  "format",
  "input_bytes",
  "output_bytes",
  "saved_percent",
  "width",
  "height",
  "quality",
  "ssim",
  "duration_ms",
  "worker_id",
  "error_code",
  "error_message",
  "kept_reason",
  "labels",
] as const;

function csvCell(value: string | number): string {
  const text = String(value);
  // Quote anything a spreadsheet could misread; a leading = + - @ (or tab or CR, which some strip before
  // parsing) would run as a formula, as in the gateway's report.
  const guarded = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(guarded) ? `"${guarded.replaceAll('"', '""')}"` : guarded;
}

function savedPercent(result: ItemResult): string {
  if (result.inputBytes === 0n || result.state === ItemState.FAILED) return "";
  return ((1 - Number(result.outputBytes) / Number(result.inputBytes)) * 100).toFixed(1);
}

export function reportCsv(results: readonly ItemResult[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of results) {
    lines.push(
      [
        r.itemId,
        r.sourceKey,
        ItemState[r.state] ?? r.state,
        r.outputKey,
        r.format ? (ImageFormat[r.format] ?? r.format) : "",
        String(r.inputBytes),
        String(r.outputBytes),
        savedPercent(r),
        r.width,
        r.height,
        r.quality,
        r.ssim ? r.ssim.toFixed(4) : "",
        r.durationMs,
        r.workerId,
        r.errorCode ? (ErrorCode[r.errorCode] ?? r.errorCode) : "",
        r.errorMessage,
        r.keptReason,
        detectedLabels(r.detection).join(LABEL_SEPARATOR),
      ]
        .map(csvCell)
        .join(","),
    );
  }
  return `${lines.join("\n")}\n`;
}

export function reportJson(job: Job, results: readonly ItemResult[]): string {
  const failures: Record<string, number> = {};
  for (const r of results) {
    if (r.state !== ItemState.FAILED) continue;
    const code = ErrorCode[r.errorCode] ?? String(r.errorCode);
    failures[code] = (failures[code] ?? 0) + 1;
  }
  const bytesIn = Number(job.bytesIn);
  const bytesOut = Number(job.bytesOut);
  const totals = {
    items: job.counts?.total ?? results.length,
    done: job.counts?.done ?? 0,
    keptOriginal: job.counts?.keptOriginal ?? 0,
    failed: job.counts?.failed ?? 0,
    bytesIn,
    bytesOut,
    savedPercent: bytesIn > 0 ? Number(((1 - bytesOut / bytesIn) * 100).toFixed(2)) : 0,
    failures,
  };
  return JSON.stringify(
    { job: toJson(JobSchema, job), totals, items: results.map((r) => toJson(ItemResultSchema, r)) },
    null,
    2,
  );
}
