/**
 * The batch on screen: a head (title, state, progress, totals, actions) and one table row per image.
 * It draws what the batch controller tells it; updates are gathered and drawn once per animation frame, so
 * a replay of hundreds of events costs one layout.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Job, JobState } from "@imgc/proto";
import { reportCsvUrl, resultsZipUrl } from "./api.js";
import { apiKey } from "./api-key.js";
import { h, setText } from "./dom.js";
import { formatBytes, formatDuration, formatSaving } from "./format.js";
import { isTerminal, type WatchStatus } from "./job-watch.js";
import { detailOf, hasOutput, phaseLabel, type Row } from "./row.js";
import { fetchAndSave } from "./save-file.js";

export type Stage =
  | { kind: "empty" }
  | { kind: "staged" }
  | { kind: "uploading" }
  | { kind: "submitting" }
  | { kind: "job"; jobId: string; job?: Job; watch: WatchStatus; error?: string };

export interface JobViewActions {
  compress(): void;
  clear(): void;
  cancel(): void;
  compare(row: Row): void;
  download(row: Row): void;
}

export interface JobView {
  setRows(rows: readonly Row[]): void;
  /** Redraws one row (and the head) at the next frame. */
  touch(row: Row): void;
  setStage(stage: Stage): void;
  /** Something went wrong at the batch level (SubmitJob refused, say): shown in the head until the next stage. */
  setError(message: string): void;
}

interface RowEls {
  tr: HTMLTableRowElement;
  detail: HTMLElement;
  badge: HTMLElement;
  meter: HTMLElement;
  before: HTMLElement;
  after: HTMLElement;
  saving: HTMLElement;
  worker: HTMLElement;
  compare: HTMLButtonElement;
  download: HTMLButtonElement;
}

const jobStateLabels: Record<JobState, string> = {
  [JobState.UNSPECIFIED]: "Starting",
  [JobState.QUEUED]: "Queued",
  [JobState.RUNNING]: "Running",
  [JobState.COMPLETED]: "Completed",
  [JobState.COMPLETED_WITH_ERRORS]: "Completed with errors",
  [JobState.FAILED]: "Failed",
  [JobState.CANCELLED]: "Cancelled",
};

function watchLabel(status: WatchStatus): { text: string; tone: string } {
  switch (status.kind) {
    case "connecting":
      return { text: "Connecting…", tone: "pending" };
    case "live":
      return { text: "Live", tone: "ok" };
    case "reconnecting":
      return { text: `Connection lost — reconnecting (try ${status.attempt})`, tone: "warn" };
    case "offline":
      return { text: "Offline — will resume when the network is back", tone: "warn" };
    case "ended":
      return { text: "", tone: "" };
  }
}

export function createJobView(root: HTMLElement, actions: JobViewActions): JobView {
  let rows: readonly Row[] = [];
  let stage: Stage = { kind: "empty" };
  let error = "";
  const els = new Map<number, RowEls>();
  const dirty = new Set<Row>();
  let frame = 0;

  const title = h("h2", { id: "job-title" });
  const stateChip = h("span", { class: "chip", id: "job-state" });
  const watchChip = h("span", { class: "chip", id: "job-connection", role: "status" });
  const errorLine = h("p", { class: "job-error", id: "job-error", role: "alert" });
  const bar = h("div", { class: "progress-fill" });
  const progress = h(
    "div",
    {
      class: "progress",
      role: "progressbar",
      "aria-labelledby": "job-title",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
    },
    bar,
  );
  const total = (label: string, id: string) => {
    const term = h("dt", {}, label);
    const value = h("dd", { id });
    return { term, value, el: h("div", {}, term, value) };
  };
  const totals = {
    images: total("Images", "total-images"),
    failed: total("Failed", "total-failed"),
    before: total("Before", "total-before"),
    after: total("After", "total-after"),
    saving: total("Saved", "total-saving"),
    time: total("Time", "total-time"),
  };
  const compress = h("button", { type: "button", class: "button primary", id: "compress" }, "Compress");
  const clear = h("button", { type: "button", class: "button", id: "clear" }, "Clear list");
  const cancel = h("button", { type: "button", class: "button danger", id: "cancel" }, "Cancel");
  const zip = h("a", { class: "button primary", id: "download-zip", download: "" }, "Download all (.zip)");
  const csv = h("a", { class: "button", id: "download-csv", download: "" }, "Report (.csv)");
  // With an API key the links cannot carry it: fetch with the header, then save. Without one the browser
  // streams the file to disk itself, however large the zip.
  for (const [link, name] of [
    [zip, "results.zip"],
    [csv, "report.csv"],
  ] as const) {
    link.addEventListener("click", (event) => {
      if (!apiKey() || stage.kind !== "job") return;
      event.preventDefault();
      const jobId = stage.jobId;
      fetchAndSave(link.href, `${jobId}-${name}`, true).catch((err: unknown) => {
        error = `The download failed: ${(err as Error).message}`;
        schedule();
      });
    });
  }
  compress.addEventListener("click", () => actions.compress());
  clear.addEventListener("click", () => actions.clear());
  cancel.addEventListener("click", () => actions.cancel());

  const tbody = h("tbody", {});
  const table = h(
    "table",
    { class: "items", id: "items" },
    h("caption", { class: "visually-hidden" }, "Images in this batch"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "c-name" }, "File"),
        h("th", { scope: "col", class: "c-state" }, "State"),
        h("th", { scope: "col", class: "c-num" }, "Before"),
        h("th", { scope: "col", class: "c-num" }, "After"),
        h("th", { scope: "col", class: "c-num" }, "Saved"),
        h("th", { scope: "col", class: "c-worker" }, "Worker"),
        h("th", { scope: "col", class: "c-actions" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    tbody,
  );
  const section = h(
    "section",
    { class: "job panel", "aria-labelledby": "job-title", hidden: true },
    h(
      "div",
      { class: "job-head" },
      h("div", { class: "job-title-row" }, title, stateChip, watchChip),
      h("div", { class: "job-actions" }, compress, cancel, zip, csv, clear),
    ),
    errorLine,
    progress,
    h("dl", { class: "totals" }, ...Object.values(totals).map((t) => t.el)),
    h("div", { class: "table-wrap" }, table),
  );
  root.replaceChildren(section);

  tbody.addEventListener("click", (event) => {
    const button = (event.target as Element).closest<HTMLButtonElement>("button[data-action]");
    const id = Number(button?.closest("tr")?.dataset.row);
    const row = rows.find((r) => r.id === id);
    if (!button || !row) return;
    if (button.dataset.action === "compare") actions.compare(row);
    else actions.download(row);
  });

  function buildRow(row: Row): RowEls {
    const action = (name: string, label: string) =>
      h(
        "button",
        { type: "button", class: "button small", "data-action": name, hidden: true },
        label,
        h("span", { class: "visually-hidden" }, ` ${row.name}`),
      );
    const e: RowEls = {
      tr: h("tr", { "data-row": row.id }),
      detail: h("div", { class: "detail" }),
      badge: h("span", { class: "badge" }),
      meter: h("span", { class: "meter", "aria-hidden": "true" }, h("span", { class: "meter-fill" })),
      before: h("td", { class: "c-num", "data-label": "Before" }),
      after: h("td", { class: "c-num", "data-label": "After" }),
      saving: h("td", { class: "c-num saving", "data-label": "Saved" }),
      worker: h("td", { class: "c-worker", "data-label": "Worker" }),
      compare: action("compare", "Compare"),
      download: action("download", "Download"),
    };
    e.tr.append(
      h("th", { scope: "row", class: "c-name" }, h("div", { class: "name", title: row.name }, row.name), e.detail),
      h("td", { class: "c-state" }, e.badge, e.meter),
      e.before,
      e.after,
      e.saving,
      e.worker,
      h("td", { class: "c-actions" }, e.compare, e.download),
    );
    return e;
  }

  function drawRow(row: Row): void {
    const e = els.get(row.id);
    if (!e) return;
    const r = row.result;
    e.tr.dataset.phase = row.phase;
    setText(e.badge, phaseLabel(row));
    setText(e.detail, detailOf(row));
    e.detail.title = detailOf(row);
    (e.meter.firstElementChild as HTMLElement).style.width =
      `${row.size > 0 ? Math.min(100, (row.loaded / row.size) * 100) : 0}%`;
    setText(e.before, row.size > 0 ? formatBytes(row.size) : "");
    const output = hasOutput(row) && r ? r.outputBytes : undefined;
    setText(e.after, output !== undefined ? formatBytes(output) : "");
    setText(e.saving, output !== undefined ? formatSaving(row.size, output) : "");
    e.saving.toggleAttribute("data-smaller", output !== undefined && Number(output) < row.size);
    setText(e.worker, r?.workerId ?? "");
    e.worker.title = r?.workerId ?? "";
    e.compare.hidden = !hasOutput(row);
    e.download.hidden = !hasOutput(row);
  }

  function drawHead(): void {
    section.hidden = stage.kind === "empty" && rows.length === 0;
    const ready = rows.filter((r) => r.phase === "ready");
    const refused = rows.filter((r) => r.phase === "refused" || r.phase === "upload-failed").length;
    const job = stage.kind === "job" ? stage.job : undefined;
    const ended = job !== undefined && isTerminal(job.state);

    let heading = "";
    let fraction = 0;
    switch (stage.kind) {
      case "empty":
      case "staged":
        heading = `${ready.length} ${ready.length === 1 ? "image" : "images"} ready`;
        break;
      case "uploading": {
        const sending = rows.filter((r) => r.phase !== "refused");
        const size = sending.reduce((sum, r) => sum + r.size, 0);
        const loaded = sending.reduce(
          (sum, r) => sum + (r.phase === "uploading" ? r.loaded : r.phase === "uploaded" ? r.size : 0),
          0,
        );
        const done = sending.filter((r) => r.phase === "uploaded").length;
        heading = `Uploading ${done} of ${sending.length}`;
        fraction = size > 0 ? loaded / size : 0;
        break;
      }
      case "submitting":
        heading = "Starting the job…";
        fraction = 1;
        break;
      case "job": {
        heading = `Job ${stage.jobId}`;
        const c = job?.counts;
        if (c && c.total > 0) fraction = (c.done + c.keptOriginal + c.failed) / c.total;
        break;
      }
    }
    setText(title, heading);
    progress.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    progress.hidden = stage.kind === "staged" || stage.kind === "empty";
    bar.style.width = `${(fraction * 100).toFixed(1)}%`;

    const stateText = job ? jobStateLabels[job.state] : stage.kind === "job" ? "Loading…" : "";
    setText(stateChip, stateText);
    stateChip.hidden = stateText === "";
    stateChip.dataset.state = job ? JobState[job.state] : "";
    const watch = stage.kind === "job" ? watchLabel(stage.watch) : { text: "", tone: "" };
    setText(watchChip, watch.text);
    watchChip.hidden = watch.text === "";
    watchChip.dataset.tone = watch.tone;
    setText(errorLine, error || (stage.kind === "job" ? (stage.error ?? job?.error ?? "") : ""));

    compress.hidden = stage.kind !== "staged";
    compress.disabled = ready.length === 0;
    setText(
      compress,
      ready.length > 0 ? `Compress ${ready.length} ${ready.length === 1 ? "image" : "images"}` : "Compress",
    );
    cancel.hidden = !(stage.kind === "uploading" || (stage.kind === "job" && job !== undefined && !ended));
    setText(cancel, stage.kind === "uploading" ? "Cancel upload" : "Cancel job");
    zip.hidden = csv.hidden = !(stage.kind === "job" && ended && job.state !== JobState.FAILED);
    if (stage.kind === "job") {
      zip.href = resultsZipUrl(stage.jobId);
      csv.href = reportCsvUrl(stage.jobId);
    }
    clear.hidden = stage.kind === "uploading" || stage.kind === "submitting" || (stage.kind === "job" && !ended);
    setText(clear, stage.kind === "job" ? "New batch" : "Clear list");

    drawTotals(job, refused);
  }

  function drawTotals(job: Job | undefined, refused: number): void {
    setText(totals.failed.term, job?.counts ? "Failed" : "Refused");
    if (job?.counts) {
      const c = job.counts;
      setText(totals.images.value, `${c.done + c.keptOriginal + c.failed} of ${c.total}`);
      setText(totals.failed.value, String(c.failed + refused));
      setText(totals.before.value, formatBytes(job.bytesIn));
      setText(totals.after.value, formatBytes(job.bytesOut));
      setText(totals.saving.value, formatSaving(job.bytesIn, job.bytesOut) || "—");
      const start = job.startedAt ?? job.createdAt;
      const end = job.finishedAt;
      const ms = start ? (end ? timestampMs(end) : Date.now()) - timestampMs(start) : 0;
      setText(totals.time.value, formatDuration(ms));
      return;
    }
    const sending = rows.filter((r) => r.phase !== "refused" && r.phase !== "upload-failed");
    setText(totals.images.value, String(sending.length));
    setText(totals.failed.value, String(refused));
    setText(totals.before.value, formatBytes(sending.reduce((sum, r) => sum + r.size, 0)));
    setText(totals.after.value, "—");
    setText(totals.saving.value, "—");
    setText(totals.time.value, "—");
  }

  function schedule(): void {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      for (const row of dirty) drawRow(row);
      dirty.clear();
      drawHead();
    });
  }

  // The elapsed time moves while a job runs.
  setInterval(() => {
    if (stage.kind === "job" && stage.job && !isTerminal(stage.job.state) && !document.hidden) schedule();
  }, 1000);

  return {
    setRows(next) {
      rows = next;
      const keep = new Set(next.map((r) => r.id));
      for (const id of els.keys()) if (!keep.has(id)) els.delete(id);
      const trs = next.map((row) => {
        let e = els.get(row.id);
        if (!e) {
          e = buildRow(row);
          els.set(row.id, e);
        }
        dirty.add(row);
        return e.tr;
      });
      tbody.replaceChildren(...trs);
      schedule();
    },
    touch(row) {
      dirty.add(row);
      schedule();
    },
    setStage(next) {
      const starting = next.kind === "uploading" && stage.kind !== "uploading";
      stage = next;
      error = "";
      schedule();
      // On a phone the options sit between the button and the list: bring the batch's progress into view.
      if (starting && section.getBoundingClientRect().top > window.innerHeight * 0.6) {
        section.scrollIntoView({ block: "start" });
      }
    },
    setError(message) {
      error = message;
      schedule();
    },
  };
}
