/**
 * Which rows the list shows, and in what order: filters by outcome (and by a label detection found) and sorts by
 * name, size or saving.
 */
import { hasOutput, labelsOf, type Row } from "./row.js";

export const filters = ["all", "done", "kept", "failed"] as const;
export type Filter = (typeof filters)[number];
export const sorts = ["added", "name", "size", "saving"] as const;
export type Sort = (typeof sorts)[number];

/** Whether the row passes the outcome filter and, when one is picked, holds an object of that label. */
export function matches(row: Row, filter: Filter, label = ""): boolean {
  if (label && !labelsOf(row).includes(label)) return false;
  switch (filter) {
    case "all":
      return true;
    case "done":
      return row.phase === "done";
    case "kept":
      return row.phase === "kept";
    case "failed":
      return row.phase === "failed" || row.phase === "refused" || row.phase === "upload-failed";
  }
}

/** The share of bytes saved (0.4 for −40%); rows without a result sort after every row with one. */
function savingOf(row: Row): number {
  if (!hasOutput(row) || row.size <= 0) return Number.NEGATIVE_INFINITY;
  const after = row.phase === "kept" ? row.size : Number(row.result?.outputBytes ?? row.size);
  return (row.size - after) / row.size;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Rows in display order: names A→Z, sizes and savings largest first; "added" keeps the order they came in. */
export function ordered(rows: readonly Row[], filter: Filter, sort: Sort, label = ""): Row[] {
  const shown = rows.filter((r) => matches(r, filter, label));
  switch (sort) {
    case "added":
      return shown;
    case "name":
      return shown.sort((a, b) => collator.compare(a.name, b.name));
    case "size":
      return shown.sort((a, b) => b.size - a.size);
    case "saving":
      return shown.sort((a, b) => savingOf(b) - savingOf(a));
  }
}

/** Every label found in the rows, each once, in A→Z order: the choices of the label filter. */
export function labelChoices(rows: readonly Row[]): string[] {
  return [...new Set(rows.flatMap(labelsOf))].sort();
}
