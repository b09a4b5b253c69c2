/**
 * The life of one batch of images on the page: files are checked and listed, uploaded to their slots,
 * submitted as one job, then followed live until the job ends. It also reopens a job by id (after a reload
 * or from the recent list) from GetResults plus a replay of its events.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { ItemResult, Job } from "@imgc/proto";
import type { Api } from "./api.js";
import type { Compare } from "./compare.js";
import type { DropZone } from "./drop-zone.js";
import { checkFile, mimeType } from "./file-check.js";
import { formatBytes, formatSaving } from "./format.js";
import type { JobView, Stage } from "./job-view.js";
import { isTerminal, watchJob } from "./job-watch.js";
import { type Options, toCompressionOptions } from "./options.js";
import { applyResult, baseName, hasOutput, isFinished, newRow, outputName, type Row } from "./row.js";
import { fetchAndSave } from "./save-file.js";
import { type PutFile, uploadFiles } from "./upload.js";

export interface BatchDeps {
  api: Api;
  view: JobView;
  dropZone: DropZone;
  compare: Compare;
  options(): Options;
  announce(message: string): void;
  /** A job was submitted: remember it and show its address. */
  submitted(job: Job): void;
  put?: PutFile;
}

export interface Batch {
  addFiles(files: File[]): void;
  start(): Promise<void>;
  cancel(): Promise<void>;
  clear(): void;
  /** Shows a job by id; does nothing when it is the one already shown. */
  open(jobId: string): Promise<void>;
  compareRow(row: Row): Promise<void>;
  download(row: Row): Promise<void>;
  jobId(): string | undefined;
}

/** How long a page of presigned download URLs is trusted before asking again. */
const urlLifetimeMs = 4 * 60_000;

function messageOf(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
}

/** A random key that makes a retried SubmitJob return the job it already made (works without a secure context). */
function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function createBatch(deps: BatchDeps): Batch {
  const { api, view } = deps;
  let rows: Row[] = [];
  // Rows by object key (the items' source_key), indexed lazily: thousands of events each find their row at once.
  let byKey: Map<string, Row> | undefined;
  let stage: Stage = { kind: "empty" };
  let running: AbortController | undefined;
  let checks: Promise<unknown> = Promise.resolve();
  let urls: { jobId: string; at: number; byItem: Map<string, string> } | undefined;

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
    urls = undefined;
    setRows([]);
    setStage({ kind: "empty" });
  }

  function addFiles(files: File[]): void {
    if (stage.kind === "uploading" || stage.kind === "submitting") return;
    if (stage.kind === "job") reset();
    const seen = new Set(rows.map((r) => r.file && `${r.name}:${r.size}:${r.file.lastModified}`));
    const fresh = files
      .filter((f) => !seen.has(`${f.name}:${f.size}:${f.lastModified}`))
      .map((file) => newRow({ name: file.name, size: file.size, file, phase: "ready" }));
    if (fresh.length === 0) return;
    setRows([...rows, ...fresh]);
    setStage({ kind: "staged" });
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

  async function start(): Promise<void> {
    await checks;
    if (stage.kind !== "staged") return;
    const sending = rows.filter((r) => r.phase === "ready" && r.file && r.kind);
    if (sending.length === 0) return;
    const options = toCompressionOptions(deps.options());
    const abort = new AbortController();
    running = abort;
    for (const row of sending) {
      row.phase = "uploading";
      row.loaded = 0;
      view.touch(row);
    }
    setStage({ kind: "uploading" });
    const rowAt = (i: number) => sending[i] as Row;
    try {
      await uploadFiles(
        { jobs: api.jobs, ...(deps.put ? { put: deps.put } : {}) },
        sending.map((r) => ({ file: r.file as File, contentType: mimeType(r.kind ?? "jpeg") })),
        {
          progress(i, loaded) {
            rowAt(i).loaded = loaded;
            view.touch(rowAt(i));
          },
          uploaded(i, key) {
            Object.assign(rowAt(i), { key, phase: "uploaded", loaded: rowAt(i).size });
            view.touch(rowAt(i));
          },
          failed(i, message) {
            Object.assign(rowAt(i), { phase: "upload-failed", note: message });
            view.touch(rowAt(i));
          },
        },
        abort.signal,
      );
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
    const request = {
      sources: uploaded.map((r) => ({ kind: { case: "uploadKey" as const, value: r.key as string } })),
      options,
      idempotencyKey: idempotencyKey(),
      label: `${uploaded.length} ${uploaded.length === 1 ? "image" : "images"}: ${uploaded[0]?.name ?? ""}`,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const { job } = await api.jobs.submitJob(request, { signal: abort.signal });
        if (!job) throw new ConnectError("the gateway returned no job", Code.Internal);
        for (const row of uploaded) {
          row.phase = "queued";
          view.touch(row);
        }
        byKey = undefined;
        deps.submitted(job);
        follow(job.id, job);
        return;
      } catch (err) {
        const error = ConnectError.from(err);
        // The idempotency key makes a retry safe: at worst it returns the job the lost answer carried.
        if (!abort.signal.aborted && error.code === Code.Unavailable && attempt < 4) {
          await new Promise((r) => setTimeout(r, 1000 * attempt));
          continue;
        }
        for (const row of uploaded) {
          row.phase = "ready";
          view.touch(row);
        }
        setStage({ kind: "staged" });
        view.setError(`The job could not be started: ${error.rawMessage}`);
        return;
      }
    }
  }

  function rowFor(result: ItemResult): Row | undefined {
    byKey ??= new Map(rows.filter((r) => r.key).map((r) => [r.key as string, r]));
    return byKey.get(result.sourceKey);
  }

  /**
   * Fills rows from GetResults. Item events come only for items reported one at a time: items ended in bulk
   * (a cancel, a dead-lettered chunk) arrive as a job event with new counts, and their rows are read here.
   */
  function reconciler(jobId: string, abort: AbortController) {
    let inFlight: Promise<void> | undefined;
    let again = false;
    const run = async (): Promise<void> => {
      do {
        again = false;
        try {
          const { results } = await allResults(jobId, false);
          if (abort.signal.aborted) return;
          for (const result of results) {
            const row = rowFor(result);
            if (!row || isFinished(row)) continue;
            applyResult(row, result);
            view.touch(row);
          }
        } catch {
          // The next job event, or the end of the job, tries again.
        }
      } while (again && !abort.signal.aborted);
    };
    return () => {
      if (inFlight) {
        again = true;
        return inFlight;
      }
      inFlight = run().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    };
  }

  function follow(jobId: string, job?: Job): void {
    running?.abort();
    const abort = new AbortController();
    running = abort;
    const current: Extract<Stage, { kind: "job" }> = {
      kind: "job",
      jobId,
      watch: { kind: "connecting" },
      ...(job ? { job } : {}),
    };
    setStage(current);
    const update = () => {
      if (running === abort) view.setStage({ ...current });
    };
    const reconcile = reconciler(jobId, abort);
    const finishedRows = () => rows.filter(isFinished).length;
    watchJob(
      api.jobs,
      jobId,
      {
        event(event) {
          if (event.kind.case === "job") {
            const wasEnded = current.job && isTerminal(current.job.state);
            current.job = event.kind.value;
            update();
            if (!wasEnded && isTerminal(current.job.state)) announceEnd(current.job);
            const c = current.job.counts;
            if (c && c.done + c.keptOriginal + c.failed > finishedRows()) void reconcile();
          } else if (event.kind.case === "item") {
            const row = rowFor(event.kind.value);
            if (!row) return;
            applyResult(row, event.kind.value);
            view.touch(row);
          }
        },
        status(status) {
          current.watch = status;
          update();
        },
      },
      abort.signal,
    )
      .then(() => {
        if (!abort.signal.aborted) return reconcile();
      })
      .catch((err: unknown) => {
        current.error =
          ConnectError.from(err).code === Code.NotFound
            ? `Job ${jobId} does not exist, or is not yours.`
            : `This job cannot be followed: ${messageOf(err)}`;
        current.watch = { kind: "ended" };
        update();
      });
  }

  function announceEnd(job: Job): void {
    const c = job.counts;
    if (!c) return;
    const saving = formatSaving(job.bytesIn, job.bytesOut);
    const parts = [`Job finished: ${c.done + c.keptOriginal} of ${c.total} images compressed`];
    if (c.failed) parts.push(`${c.failed} failed`);
    if (saving) parts.push(`${formatBytes(job.bytesIn)} became ${formatBytes(job.bytesOut)} (${saving})`);
    deps.announce(`${parts.join(", ")}.`);
  }

  async function allResults(jobId: string, includeUrls: boolean): Promise<{ job?: Job; results: ItemResult[] }> {
    const results: ItemResult[] = [];
    let job: Job | undefined;
    let pageToken = "";
    do {
      const page = await api.jobs.getResults({ jobId, pageSize: 1000, pageToken, includeUrls });
      results.push(...page.results);
      job = page.job ?? job;
      pageToken = page.nextPageToken;
    } while (pageToken);
    return job ? { job, results } : { results };
  }

  async function open(jobId: string): Promise<void> {
    if (stage.kind === "job" && stage.jobId === jobId) return;
    reset();
    const loading: Stage = { kind: "job", jobId, watch: { kind: "connecting" } };
    setStage(loading);
    try {
      const { job, results } = await allResults(jobId, false);
      if (stage !== loading) return;
      setRows(
        results.map((result) => {
          const row = newRow({ name: baseName(result.sourceKey), size: Number(result.inputBytes), phase: "queued" });
          applyResult(row, result);
          return row;
        }),
      );
      follow(jobId, job);
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
      if (job && stage === current && !(current.job && isTerminal(current.job.state))) {
        current.job = job;
        view.setStage({ ...current });
      }
      deps.announce("Job cancelled.");
    } catch (err) {
      view.setError(`The job could not be cancelled: ${messageOf(err)}`);
    }
  }

  async function resultUrl(row: Row): Promise<string | undefined> {
    if (stage.kind !== "job" || !row.result) return undefined;
    const itemId = row.result.itemId;
    if (!urls || urls.jobId !== stage.jobId || Date.now() - urls.at > urlLifetimeMs || !urls.byItem.has(itemId)) {
      const { results } = await allResults(stage.jobId, true);
      urls = {
        jobId: stage.jobId,
        at: Date.now(),
        byItem: new Map(results.filter((r) => r.downloadUrl).map((r) => [r.itemId, r.downloadUrl])),
      };
    }
    return urls.byItem.get(itemId);
  }

  async function compareRow(row: Row): Promise<void> {
    if (!hasOutput(row) || !row.result) return;
    const result = row.result;
    try {
      const after = await resultUrl(row);
      if (!after) throw new Error("the gateway gave no download address");
      deps.compare.open({
        name: row.name,
        ...(row.file ? { before: row.file } : {}),
        beforeBytes: row.size,
        after,
        afterBytes: Number(result.outputBytes),
        afterFormat: result.format,
        width: result.width,
        height: result.height,
      });
    } catch (err) {
      view.setError(`The comparison could not be opened: ${messageOf(err)}`);
    }
  }

  async function download(row: Row): Promise<void> {
    let url: string | undefined;
    try {
      url = await resultUrl(row);
      if (!url) throw new Error("the gateway gave no download address");
      await fetchAndSave(url, outputName(row));
    } catch (err) {
      if (url) window.open(url, "_blank", "noopener");
      else view.setError(`The download failed: ${messageOf(err)}`);
    }
  }

  return {
    addFiles,
    start,
    cancel,
    clear: reset,
    open,
    compareRow,
    download,
    jobId: () => (stage.kind === "job" ? stage.jobId : undefined),
  };
}
