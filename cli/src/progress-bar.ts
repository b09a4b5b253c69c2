/**
 * A progress bar for the long phases (uploading, compressing, downloading): counts, bytes, rate and ETA.
 * On a terminal it is a bar redrawn in place (coloured unless NO_COLOR is set, cut to the terminal's width so
 * it never wraps); elsewhere the same facts as plain lines, at most one a second, for logs.
 */
import { formatBytes, formatSaving, type Job } from "@imgc/proto";
import type { Output } from "./context.js";
import { createProgress } from "./follow.js";

export interface Progress {
  /** The phase, e.g. "uploading"; a new phase restarts the rate and ETA. */
  phase: string;
  done: number;
  total: number;
  /** What `done` counts: "files", "items". */
  unit: string;
  /** Bytes moved so far and in all: the rate and ETA then follow the bytes, which is steadier than counts. */
  bytes?: number;
  totalBytes?: number;
  /** Anything after the counts, e.g. "2 failed" or "12 MiB → 4 MiB". */
  note?: string;
}

const BAR_WIDTH = 24;
// Redraws at most this often on a terminal: a progress callback per MiB uploaded would otherwise flood it.
const REDRAW_MS = 100;

/** 75 s → "1m15s"; under a minute "42s"; over an hour "2h05m". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Whether to colour: a terminal, and NO_COLOR (https://no-color.org) unset or empty. */
export function useColor(output: Output, env: Readonly<Record<string, string | undefined>>): boolean {
  return output.isTTY === true && !env.NO_COLOR;
}

interface Rendering {
  bar: boolean;
  color: boolean;
  /** Milliseconds since the phase started, and how much of it was done then (a watch joins mid-job). */
  elapsedMs: number;
  doneAtStart: number;
  bytesAtStart: number;
}

/** The line for `progress`: "uploading [█████░░░░░] 42/100 files · 4.0/9.5 MiB · 1.2 MiB/s · ETA 5s · note". */
export function renderProgress(progress: Progress, how: Rendering): string {
  const { done, total, unit } = progress;
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const parts: string[] = [];
  if (how.bar) {
    const filled = Math.round(fraction * BAR_WIDTH);
    const full = "█".repeat(filled);
    const empty = "░".repeat(BAR_WIDTH - filled);
    parts.push(`${progress.phase} ${how.color ? `\x1b[32m${full}\x1b[2m${empty}\x1b[0m` : full + empty}`);
  } else {
    parts.push(progress.phase);
  }
  const percent = total > 0 ? ` (${Math.floor(fraction * 100)}%)` : "";
  const counts = [`${done}/${total} ${unit}${percent}`];
  const seconds = how.elapsedMs / 1000;
  const byBytes = progress.bytes !== undefined && progress.totalBytes !== undefined && progress.totalBytes > 0;
  if (byBytes) counts.push(`${formatBytes(progress.bytes ?? 0)}/${formatBytes(progress.totalBytes ?? 0)}`);
  // A rate needs a little history; before that it would be noise.
  if (seconds >= 1) {
    const moved = byBytes ? (progress.bytes ?? 0) - how.bytesAtStart : done - how.doneAtStart;
    const rate = moved / seconds;
    if (rate > 0) {
      counts.push(byBytes ? `${formatBytes(rate)}/s` : `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} ${unit}/s`);
      const left = byBytes ? (progress.totalBytes ?? 0) - (progress.bytes ?? 0) : total - done;
      if (left > 0) counts.push(`ETA ${duration((left / rate) * 1000)}`);
    }
  }
  if (progress.note) counts.push(progress.note);
  return `${parts.join("")} ${counts.join(" · ")}`;
}

/** Cuts a line to `columns` visible characters (escape sequences take none), keeping its colour reset. */
export function fit(line: string, columns: number | undefined): string {
  if (!columns || columns < 10) return line;
  let visible = 0;
  let out = "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences are what is skipped
  for (const token of line.match(/\x1b\[[0-9;]*m|[\s\S]/gu) ?? []) {
    if (token.startsWith("\x1b")) {
      out += token;
      continue;
    }
    // One column short: writing the last column moves some terminals to the next line.
    if (visible >= columns - 1) return line.includes("\x1b") ? `${out}\x1b[0m` : out;
    out += token;
    visible++;
  }
  return out;
}

export function createProgressBar(
  output: Output,
  env: Readonly<Record<string, string | undefined>>,
  now: () => number = Date.now,
) {
  const display = createProgress(output, now);
  const bar = output.isTTY === true;
  const color = useColor(output, env);
  let phase: { name: string; startedAt: number; done: number; bytes: number } | undefined;
  let last: Progress | undefined;
  let drawnAt = Number.NEGATIVE_INFINITY;
  const line = (progress: Progress) => {
    const started = phase ?? { startedAt: now(), done: 0, bytes: 0 };
    return fit(
      renderProgress(progress, {
        bar,
        color,
        elapsedMs: now() - started.startedAt,
        doneAtStart: started.done,
        bytesAtStart: started.bytes,
      }),
      output.columns,
    );
  };
  return {
    update(progress: Progress) {
      if (phase?.name !== progress.phase) {
        phase = { name: progress.phase, startedAt: now(), done: progress.done, bytes: progress.bytes ?? 0 };
        drawnAt = Number.NEGATIVE_INFINITY;
      }
      last = progress;
      const complete = progress.total > 0 && progress.done >= progress.total;
      if (bar && !complete && now() - drawnAt < REDRAW_MS) return;
      drawnAt = now();
      display.update(line(progress));
    },
    /** Ends the phase with `text`, or with its latest progress when none is given. */
    finish(text?: string) {
      if (text === undefined && last === undefined) return;
      display.finish(text ?? line(last as Progress));
      phase = undefined;
      last = undefined;
    },
  };
}

/** A job's progress: items ended of all, with failures, items running and bytes in → out as the note. */
export function jobProgress(job: Job, phase = "compressing"): Progress {
  const c = job.counts;
  const ended = c ? c.done + c.keptOriginal + c.failed : 0;
  const note = [
    c && c.failed > 0 ? `${c.failed} failed` : "",
    c && c.running > 0 ? `${c.running} running` : "",
    job.bytesIn > 0n
      ? `${formatBytes(job.bytesIn)} → ${formatBytes(job.bytesOut)} (${formatSaving(job.bytesIn, job.bytesOut)})`
      : "",
  ].filter(Boolean);
  const progress: Progress = { phase, done: ended, total: c?.total ?? 0, unit: "items" };
  if (note.length > 0) progress.note = note.join(" · ");
  return progress;
}
