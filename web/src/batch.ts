/**
 * The life of one batch of images on the page: files are checked and listed, uploaded, submitted as one job
 * (src/submit.ts), then followed live until the job ends (src/follow-job.ts). It reopens a job by id (after a
 * reload or from the recent list), and runs a finished job's originals again, all or some of them, with the
 * same or new options, as a new job linked to the old one: the originals stay on the cluster, nothing is
 * uploaded twice.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type ItemResult, isTerminalJobState, type Job } from "@imgc/proto";
import type { Api } from "./api.js";
import type { Compare } from "./compare.js";
import type { DropZone } from "./drop-zone.js";
import { checkFile } from "./file-check.js";
import { followJob, messageOf } from "./follow-job.js";
import { formatBytes, formatSaving } from "./format.js";
import type { JobView, Stage } from "./job-view.js";
import { type Options, toCompressionOptions, toTasks } from "./options.js";
import type { RecentJobs } from "./recent-jobs.js";
import { createResults } from "./results.js";
import { applyResult, baseName, hasOutput, newRow, outputName, type Row } from "./row.js";
import { fetchAndSave } from "./save-file.js";
import { type JobWork, labelFor, submitRows, uploadRows } from "./submit.js";
import { totalsOf } from "./totals.js";
import type { PutFile } from "./upload.js";

export interface BatchDeps {
  api: Api;
  view: JobView;
  dropZone: DropZone;
  compare: Compare;
  recent: RecentJobs;
  options(): Options;
  announce(message: string): void;
  /** A job is shown that the address should name (submitted, or reopened). */
  showing(jobId: string | undefined): void;
  put?: PutFile;
}

/** With which options a re-run goes: the old job's own, or what the options panel says now. */
export type RerunOptions = "same" | "current";

export interface Batch {
  addFiles(files: File[]): void;
  /** Files dropped while a job runs wait for the person's word: start a new batch with them, or not. */
  acceptPending(): void;
  discardPending(): void;
  start(): Promise<void>;
  cancel(): Promise<void>;
  clear(): void;
  /** Shows a job by id; does nothing when it is the one already shown. */
  open(jobId: string): Promise<void>;
  compareRow(row: Row): Promise<void>;
  download(row: Row): Promise<void>;
  /** Runs these rows' originals again as a new job, linked to the one shown. */
  rerun(rows: readonly Row[], options: RerunOptions): Promise<void>;
  /** Runs the shown job's failed items again with its own options (RetryJob on the cluster). */
  retryFailed(): Promise<void>;
  /** Deletes the shown job and its data on the cluster; it leaves the recent list. */
  deleteJob(): Promise<void>;
  /** Takes rows off the list (the job on the server keeps them). */
  remove(rows: readonly Row[]): void;
  rename(label: string): void;
  /** Whether something is on its way that a reload would lose. */
  busy(): boolean;
  jobId(): string | undefined;
}

export function createBatch(deps: BatchDeps): Batch {
  const { api, view, recent } = deps;
  const results = createResults(api.jobs);
  let rows: Row[] = [];
  // Rows by object key (the items' source_key), indexed lazily: thousands of events each find their row at once.
  let byKey: Map<string, Row> | undefined;
  let stage: Stage = { kind: "empty" };
  let running: AbortController | undefined;
  let checks: Promise<unknown> = Promise.resolve();
  let pending: File[] = [];
  let thumbs: ReturnType<typeof setTimeout> | undefined;
  let thumbsAsked = false;

  function setStage(next: Stage): void {
    stage = next;
    view.setStage(next);
    const busy = next.kind === "uploading" || next.kind === "submitting";
    deps.dropZone.setEnabled(!busy, busy ? "Uploading: new files can be added once the job has started." : "");
  }

  function setRows(next: Row[]): void {
    rows = next;
    byKey = undefined;
    view.setRows(rows);
  }

  function reset(): void {
    running?.abort();
    running = undefined;
    clearTimeout(thumbs);
    thumbs = undefined;
    thumbsAsked = false;
    setRows([]);
    setStage({ kind: "empty" });
    view.setPending(0);
  }

  const jobRunning = () => stage.kind === "job" && !(stage.job && isTerminalJobState(stage.job.state));

  function addFiles(files: File[]): void {
    if (stage.kind === "uploading" || stage.kind === "submitting") return;
    if (stage.kind === "job") {
      if (jobRunning()) {
        // Never replace a running job on screen without asking.
        pending = [...pending, ...files];
        view.setPending(pending.length);
        return;
      }
      reset();
      deps.showing(undefined);
    }
    const seen = new Set(rows.map((r) => r.file && `${r.name}:${r.size}:${r.file.lastModified}`));
    const fresh = files
      .filter((f) => !seen.has(`${f.name}:${f.size}:${f.lastModified}`))
      .map((file) => newRow({ name: file.name, size: file.size, file, phase: "ready" }));
    if (fresh.length === 0) return;
    setRows([...rows, ...fresh]);
    setStage({ kind: "staged" });
    view.reveal();
    const checked = Promise.all(
      fresh.map(async (row) => {
        const check = await checkFile(row.file as File);
        if (check.ok) row.kind = check.kind;
        else {
          row.phase = "refused";
          row.note = check.reason;
        }
        view.touch(row);
        return check.ok;
      }),
    ).then((oks) => {
      const refused = oks.filter((ok) => !ok).length;
      const accepted = oks.length - refused;
      deps.announce(
        `${accepted} ${accepted === 1 ? "image" : "images"} added${refused ? `, ${refused} refused` : ""}.`,
      );
    });
    checks = Promise.all([checks, checked]);
  }

  function acceptPending(): void {
    const files = pending;
    pending = [];
    reset();
    deps.showing(undefined);
    addFiles(files);
  }

  function discardPending(): void {
    pending = [];
    view.setPending(0);
  }

  async function start(): Promise<void> {
    await checks;
    if (stage.kind !== "staged") return;
    const sending = rows.filter((r) => r.phase === "ready" && r.file && r.kind);
    if (sending.length === 0) return;
    const work = { options: toCompressionOptions(deps.options()), tasks: toTasks(deps.options()) };
    const abort = new AbortController();
    running = abort;
    for (const row of sending) {
      row.phase = "uploading";
      row.loaded = 0;
      view.touch(row);
    }
    setStage({ kind: "uploading" });
    try {
      await uploadRows(api.jobs, sending, view.touch, abort.signal, deps.put);
    } catch (err) {
      if (!abort.signal.aborted) view.setError(`The upload stopped: ${messageOf(err)}`);
    }
    if (abort.signal.aborted) {
      for (const row of sending) {
        row.phase = "ready";
        row.loaded = 0;
        view.touch(row);
      }
      setStage({ kind: "staged" });
      deps.announce("Upload cancelled.");
      return;
    }
    const uploaded = sending.filter((r) => r.phase === "uploaded");
    if (uploaded.length === 0) {
      setStage({ kind: "staged" });
      view.setError("No file could be uploaded; see each file's message.");
      return;
    }
    setStage({ kind: "submitting" });
    try {
      const job = await submitRows(api.jobs, uploaded, work, labelFor(uploaded.map((r) => r.name)), abort.signal);
      for (const row of uploaded) {
        row.phase = "queued";
        view.touch(row);
      }
      byKey = undefined;
      recent.remember(job);
      deps.showing(job.id);
      follow(job.id, job);
    } catch (err) {
      for (const row of uploaded) {
        row.phase = "ready";
        view.touch(row);
      }
      setStage({ kind: "staged" });
      if (!abort.signal.aborted) view.setError(`The job could not be started: ${messageOf(err)}`);
    }
  }

  function rowFor(result: ItemResult): Row | undefined {
    byKey ??= new Map(rows.filter((r) => r.key).map((r) => [r.key as string, r]));
    return byKey.get(result.sourceKey);
  }

  function jobStage(jobId: string, job?: Job): Extract<Stage, { kind: "job" }> {
    const parentId = recent.parentOf(jobId);
    return {
      kind: "job",
      jobId,
      title: recent.labelOf(jobId) || job?.label || `Job ${jobId}`,
      watch: { kind: "connecting" },
      ...(job ? { job } : {}),
      ...(parentId ? { parent: { id: parentId, title: recent.labelOf(parentId) || `Job ${parentId}` } } : {}),
    };
  }

  function follow(jobId: string, job?: Job): void {
    running?.abort();
    const abort = new AbortController();
    running = abort;
    const current = jobStage(jobId, job);
    setStage(current);
    const update = () => {
      if (running === abort) view.setStage({ ...current });
    };
    followJob(
      api.jobs,
      results,
      jobId,
      {
        rows: () => rows,
        rowFor,
        touch(row) {
          view.touch(row);
          if (hasOutput(row)) scheduleThumbnails(jobId, abort.signal);
        },
        job(next, ended) {
          current.job = next;
          if (!current.title || current.title === `Job ${jobId}`) current.title = next.label || current.title;
          update();
          if (ended) {
            announceEnd(next);
            // The last results' thumbnails should not wait out the throttle.
            thumbsAsked = false;
            clearTimeout(thumbs);
            thumbs = undefined;
            scheduleThumbnails(jobId, abort.signal);
          }
        },
        status(status) {
          current.watch = status;
          update();
        },
        failed(message) {
          current.error = message;
          current.watch = { kind: "ended" };
          update();
        },
      },
      abort.signal,
    );
  }

  /**
   * Thumbnails of results come from presigned URLs, which GetResults gives for the whole job at once: soon for
   * the first results, then at most every few seconds while more arrive.
   */
  function scheduleThumbnails(jobId: string, signal: AbortSignal): void {
    if (thumbs !== undefined) return;
    const delay = thumbsAsked ? 8000 : 1500;
    thumbsAsked = true;
    thumbs = setTimeout(() => {
      void results
        .refresh(jobId)
        .then((urls) => {
          if (!signal.aborted) view.setThumbnails(urls);
        })
        .catch(() => {})
        .finally(() => {
          thumbs = undefined;
        });
    }, delay);
  }

  function announceEnd(job: Job): void {
    const t = totalsOf(rows);
    const c = job.counts;
    if (!c) return;
    const saving = formatSaving(t.before, t.after);
    const parts = [`Job finished: ${c.done + c.keptOriginal} of ${c.total} images compressed`];
    if (c.failed) parts.push(`${c.failed} failed`);
    if (saving) parts.push(`${formatBytes(t.before)} became ${formatBytes(t.after)} (${saving})`);
    deps.announce(`${parts.join(", ")}.`);
  }

  async function open(jobId: string): Promise<void> {
    if (stage.kind === "job" && stage.jobId === jobId) return;
    reset();
    const loading: Stage = jobStage(jobId);
    setStage(loading);
    try {
      const { job, results: found } = await results.all(jobId, false);
      if (stage !== loading) return;
      setRows(
        found.map((result) => {
          const row = newRow({ name: baseName(result.sourceKey), size: Number(result.inputBytes), phase: "queued" });
          applyResult(row, result);
          return row;
        }),
      );
      follow(jobId, job);
      scheduleThumbnails(jobId, (running as AbortController).signal);
    } catch (err) {
      if (stage !== loading) return;
      const error = ConnectError.from(err);
      setStage({
        ...loading,
        watch: { kind: "ended" },
        error:
          error.code === Code.NotFound
            ? `Job ${jobId} does not exist, or is not yours.`
            : `The job could not be loaded: ${error.rawMessage}`,
      });
    }
  }

  async function cancel(): Promise<void> {
    if (stage.kind === "uploading") {
      running?.abort();
      return;
    }
    if (stage.kind !== "job") return;
    const current = stage;
    try {
      const { job } = await api.jobs.cancelJob({ jobId: current.jobId });
      if (job && stage === current && !(current.job && isTerminalJobState(current.job.state))) {
        current.job = job;
        view.setStage({ ...current });
      }
      deps.announce("Job cancelled.");
    } catch (err) {
      view.setError(`The job could not be cancelled: ${messageOf(err)}`);
    }
  }

  /** Compare steps through the rows with a result in the order the list shows them. */
  async function compareRow(row: Row): Promise<void> {
    if (!hasOutput(row) || !row.result || stage.kind !== "job") return;
    const jobId = stage.jobId;
    const result = row.result;
    try {
      const after = await results.url(jobId, result.itemId);
      if (!after) throw new Error("the gateway gave no download address");
      const list = view.visibleRows().filter(hasOutput);
      const at = list.indexOf(row);
      const prev = at > 0 ? list[at - 1] : undefined;
      const next = at >= 0 ? list[at + 1] : undefined;
      deps.compare.open({
        name: row.name,
        ...(row.file ? { before: row.file } : {}),
        beforeBytes: row.size,
        after,
        afterBytes: row.phase === "kept" ? row.size : Number(result.outputBytes),
        afterFormat: result.format,
        width: result.width,
        height: result.height,
        ...(result.detection ? { detection: result.detection } : {}),
        position: at >= 0 ? `${at + 1} of ${list.length}` : "",
        ...(prev ? { previous: () => void compareRow(prev) } : {}),
        ...(next ? { next: () => void compareRow(next) } : {}),
      });
    } catch (err) {
      view.setError(`The comparison could not be opened: ${offlineAware(err)}`);
    }
  }

  async function download(row: Row): Promise<void> {
    if (stage.kind !== "job" || !row.result) return;
    let url: string | undefined;
    try {
      url = await results.url(stage.jobId, row.result.itemId);
      if (!url) throw new Error("the gateway gave no download address");
      await fetchAndSave(url, outputName(row));
    } catch (err) {
      if (url) window.open(url, "_blank", "noopener");
      else view.setError(`The download failed: ${offlineAware(err)}`);
    }
  }

  async function rerun(chosen: readonly Row[], which: RerunOptions): Promise<void> {
    if (stage.kind !== "job") return;
    const from = stage;
    const again = chosen.filter((r) => r.key && r.phase !== "refused" && r.phase !== "upload-failed");
    if (again.length === 0) return;
    const abort = new AbortController();
    try {
      const old = which === "current" ? undefined : (from.job ?? (await api.jobs.getJob({ jobId: from.jobId })).job);
      const work: JobWork | undefined =
        which === "current"
          ? { options: toCompressionOptions(deps.options()), tasks: toTasks(deps.options()) }
          : old?.options && {
              options: old.options,
              tasks: old.tasks,
              ...(old.detection ? { detection: old.detection } : {}),
            };
      if (!work) throw new Error("the old job's options are unknown");
      const job = await submitRows(
        api.jobs,
        again,
        work,
        `${which === "same" ? "Retry" : "Re-run"} of ${labelFor(again.map((r) => r.name))}`,
        abort.signal,
      );
      showAgain(job, from.jobId, again);
    } catch (err) {
      view.setError(`The images could not be sent again: ${messageOf(err)}`);
    }
  }

  /** Shows a job that runs these rows' originals again, in place of the job they came from. */
  function showAgain(job: Job, fromJobId: string, again: readonly Row[]): void {
    recent.remember(job, fromJobId);
    // The new job's rows keep what this page knows of each original (its file, for comparisons).
    const fresh = again.map((r) =>
      newRow({
        name: r.name,
        size: r.size,
        phase: "queued",
        key: r.key as string,
        ...(r.file ? { file: r.file } : {}),
        ...(r.kind ? { kind: r.kind } : {}),
      }),
    );
    running?.abort();
    clearTimeout(thumbs);
    thumbs = undefined;
    thumbsAsked = false;
    setRows(fresh);
    deps.showing(job.id);
    follow(job.id, job);
    deps.announce(`${again.length} ${again.length === 1 ? "image" : "images"} sent again.`);
  }

  async function retryFailed(): Promise<void> {
    if (stage.kind !== "job") return;
    const from = stage;
    const failed = rows.filter((r) => r.phase === "failed" && r.key);
    try {
      const { job } = await api.jobs.retryJob({ jobId: from.jobId });
      if (!job) throw new Error("the gateway returned no job");
      showAgain(job, from.jobId, failed);
    } catch (err) {
      view.setError(`The failed images could not be retried: ${messageOf(err)}`);
    }
  }

  async function deleteJob(): Promise<void> {
    if (stage.kind !== "job") return;
    const jobId = stage.jobId;
    try {
      await api.jobs.deleteJob({ jobId });
      recent.forget(jobId);
      reset();
      deps.showing(undefined);
      deps.announce("Job deleted.");
    } catch (err) {
      view.setError(`The job could not be deleted: ${messageOf(err)}`);
    }
  }

  function remove(gone: readonly Row[]): void {
    const drop = new Set(gone);
    setRows(rows.filter((r) => !drop.has(r)));
    if (rows.length === 0 && stage.kind !== "job") setStage({ kind: "empty" });
  }

  function rename(label: string): void {
    if (stage.kind !== "job") return;
    const title = label.trim().slice(0, 200);
    recent.rename(stage.jobId, title);
    stage.title = title || stage.job?.label || `Job ${stage.jobId}`;
    view.setStage({ ...stage });
  }

  return {
    addFiles,
    acceptPending,
    discardPending,
    start,
    cancel,
    clear: reset,
    open,
    compareRow,
    download,
    rerun,
    retryFailed,
    deleteJob,
    remove,
    rename,
    busy: () => stage.kind === "uploading" || stage.kind === "submitting",
    jobId: () => (stage.kind === "job" ? stage.jobId : undefined),
  };
}

/** "Failed to fetch" means little to a person: say the device is offline when it is. */
function offlineAware(err: unknown): string {
  if (typeof navigator !== "undefined" && !navigator.onLine)
    return "this device is offline; try again once it is back.";
  const message = messageOf(err);
  return /failed to fetch|networkerror|load failed/i.test(message)
    ? "the cluster could not be reached; check the connection and try again."
    : message;
}
