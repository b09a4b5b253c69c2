/**
 * The batch's totals, read from its rows so that the head always agrees with the list: sizes and the saving
 * count only images that have a result (done or kept), never failed ones, which made nothing. Files refused
 * before upload are counted apart from images that failed on the cluster.
 */
import { hasOutput, type Row } from "./row.js";

export interface Totals {
  /** Images in the batch or job (refused files excluded). */
  images: number;
  /** Of those, how many reached an end (done, kept or failed). */
  finished: number;
  done: number;
  kept: number;
  failed: number;
  /** Files refused before upload, or whose upload failed. */
  refused: number;
  /** Bytes of the originals of the images that have a result. */
  before: number;
  /** Bytes of those results (a kept original counts its own size). */
  after: number;
  /** Bytes of every image in the batch, finished or not. */
  all: number;
}

export function totalsOf(rows: readonly Row[]): Totals {
  const t: Totals = { images: 0, finished: 0, done: 0, kept: 0, failed: 0, refused: 0, before: 0, after: 0, all: 0 };
  for (const row of rows) {
    if (row.phase === "refused" || row.phase === "upload-failed") {
      t.refused++;
      continue;
    }
    t.images++;
    t.all += row.size;
    if (row.phase === "done") t.done++;
    else if (row.phase === "kept") t.kept++;
    else if (row.phase === "failed") t.failed++;
    if (hasOutput(row)) {
      t.before += row.size;
      t.after += row.phase === "kept" ? row.size : Number(row.result?.outputBytes ?? row.size);
    }
  }
  t.finished = t.done + t.kept + t.failed;
  return t;
}

/**
 * The job's remaining time, from its pace so far: unknown until a few images finished (the first ones pay
 * for warm-up), and never below zero.
 */
export function remainingMs(totals: Totals, elapsedMs: number): number | undefined {
  if (totals.finished < 2 || totals.finished >= totals.images || elapsedMs <= 0) return undefined;
  return (elapsedMs / totals.finished) * (totals.images - totals.finished);
}
