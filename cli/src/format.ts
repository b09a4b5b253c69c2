/**
 * Human output: enum names, aligned tables, CSV, and one-line summaries of jobs and items. Sizes and savings read
 * as everywhere else (formatBytes, formatSaving of @imgc/proto: "1.54 KB", "−76.9%").
 */
import type { DescEnum } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  detectedLabels,
  ErrorCodeSchema,
  formatBytes,
  formatSaving,
  ImageFormatSchema,
  type ItemResult,
  ItemState,
  ItemStateSchema,
  type Job,
  JobStateSchema,
  PrioritySchema,
  TaskKind,
} from "@imgc/proto";

/** An enum value's name without its prefix, lower case: JOB_STATE_COMPLETED_WITH_ERRORS → completed_with_errors. */
export function enumName(schema: DescEnum, value: number): string {
  const found = schema.values.find((v) => v.number === value);
  if (!found) return String(value);
  return found.name.slice(schema.sharedPrefix?.length ?? 0).toLowerCase();
}

export const jobState = (value: number) => enumName(JobStateSchema, value);
export const itemState = (value: number) => enumName(ItemStateSchema, value);
export const imageFormat = (value: number) => enumName(ImageFormatSchema, value);
export const priority = (value: number) => enumName(PrioritySchema, value);
/** Error codes stay in their stable upper-case spelling: clients switch on them. */
export const errorCode = (value: number) => enumName(ErrorCodeSchema, value).toUpperCase();

export function time(timestamp: Timestamp | undefined): string {
  return timestamp
    ? timestampDate(timestamp)
        .toISOString()
        .replace(/\.\d+Z$/, "Z")
    : "";
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** "7/12 ended: 6 done, 0 kept, 1 failed · 2 running" */
export function counts(job: Job): string {
  const c = job.counts;
  if (!c) return "no items yet";
  const ended = c.done + c.keptOriginal + c.failed;
  const active = c.running > 0 ? ` · ${c.running} running` : "";
  return `${ended}/${c.total} ended: ${c.done} done, ${c.keptOriginal} kept, ${c.failed} failed${active}`;
}

/** One line for a progress display or a listing. */
export function jobLine(job: Job): string {
  const sizes =
    job.bytesIn > 0n
      ? ` · ${formatBytes(job.bytesIn)} → ${formatBytes(job.bytesOut)} (${formatSaving(job.bytesIn, job.bytesOut)})`
      : "";
  return `job ${job.id} ${jobState(job.state)} · ${counts(job)}${sizes}`;
}

/** A job's or worker's kinds of work: "compress, detect"; none listed is compress. */
export function tasksText(tasks: readonly TaskKind[]): string {
  return (tasks.length > 0 ? tasks : [TaskKind.COMPRESS])
    .map((task) => (TaskKind[task] ?? String(task)).toLowerCase())
    .join(", ");
}

/** The `status` view: one labelled line per fact. */
export function jobDetails(job: Job): string {
  const rows: [string, string][] = [
    ["job", job.id],
    ["state", jobState(job.state)],
    ["items", counts(job)],
    [
      "bytes",
      job.bytesIn > 0n
        ? `${formatBytes(job.bytesIn)} → ${formatBytes(job.bytesOut)} (${formatSaving(job.bytesIn, job.bytesOut)})`
        : "",
    ],
    ["priority", priority(job.priority)],
    ["label", job.label],
    ["chunks", job.chunkCount ? String(job.chunkCount) : ""],
    ["created", time(job.createdAt)],
    ["started", time(job.startedAt)],
    ["finished", time(job.finishedAt)],
    ["tasks", job.tasks.length > 1 || job.tasks[0] === TaskKind.DETECT ? tasksText(job.tasks) : ""],
    ["notice", job.notice],
    ["error", job.error],
    ["report", job.reportKey],
  ];
  return table(
    ["", ""],
    rows.filter(([, value]) => value !== ""),
  )
    .split("\n")
    .slice(1)
    .join("\n");
}

/** An item result as a row: its outcome, sizes before → after, saving, format and the worker that made it. */
export function resultRow(name: string, result: ItemResult): string[] {
  if (result.state === ItemState.FAILED) {
    const reason = `${errorCode(result.errorCode)}${result.errorMessage ? `: ${result.errorMessage}` : ""}`;
    return [name, "failed", formatBytes(result.inputBytes), "", "", result.workerId, reason];
  }
  if (result.state !== ItemState.DONE && result.state !== ItemState.KEPT_ORIGINAL) {
    return [name, itemState(result.state), "", "", "", result.workerId, ""];
  }
  // Detection only: no output, so no size after or saving.
  if (!result.outputKey && result.detection) {
    return [
      name,
      itemState(result.state),
      formatBytes(result.inputBytes),
      "",
      "",
      result.detection?.workerId ?? "",
      "",
    ];
  }
  return [
    name,
    itemState(result.state),
    `${formatBytes(result.inputBytes)} → ${formatBytes(result.outputBytes)}`,
    formatSaving(result.inputBytes, result.outputBytes),
    imageFormat(result.format),
    result.workerId,
    // Why the original was kept, or what differs from what was asked ("Resized from 2725×2225 to 1408×1150 to
    // fit 50 KB", a multipage input's page 1).
    result.keptReason || result.note,
  ];
}

export const RESULT_HEADER = ["file", "state", "size", "saving", "format", "worker", "note"] as const;

/**
 * A results table with a `labels` column (what detection found: "person, cup") when any item has a detection;
 * as it was otherwise.
 */
export function resultsTable(
  header: readonly string[],
  rows: readonly string[][],
  results: readonly (ItemResult | undefined)[],
): string {
  if (!results.some((result) => result?.detection)) return table(header, rows);
  return table(
    [...header, "labels"],
    rows.map((row, i) => [...row, detectedLabels(results[i]?.detection).join(", ")]),
  );
}
