/**
 * The batch on screen: a summary that stays in view while the list scrolls (title, state, progress, totals,
 * Download all), a toolbar (filters, sort, what to do with the selection), and the list itself
 * (src/item-table.ts). It draws what the batch controller tells it; updates are gathered and drawn once per
 * animation frame, so a replay of hundreds of events costs one layout.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { downloadStem, formatBytes, formatSaving, isTerminalJobState, type Job, JobState } from "@imgc/proto";
import { reportCsvUrl, resultsZipUrl } from "./api.js";
import { apiKey } from "./api-key.js";
import { h, setText } from "./dom.js";
import { formatDuration } from "./format.js";
import { createItemTable, type RowAction } from "./item-table.js";
import type { WatchStatus } from "./job-watch.js";
import type { WorkChoice } from "./options.js";
import type { Row } from "./row.js";
import { type Filter, filters, labelChoices, type Sort } from "./row-order.js";
import { fetchAndSave } from "./save-file.js";
import { labelFor } from "./submit.js";
import { remainingMs, type Totals, totalsOf } from "./totals.js";

export type Stage =
  | { kind: "empty" }
  | { kind: "staged" }
  | { kind: "uploading" }
  | { kind: "submitting" }
  | {
      kind: "job";
      jobId: string;
      /** The job's name: the person's, else the one it was submitted with. */
      title: string;
      job?: Job;
      watch: WatchStatus;
      error?: string;
      /** The job this one re-ran. */
      parent?: { id: string; title: string };
    };

export interface JobViewActions {
  compress(): void;
  clear(): void;
  cancel(): void;
  /** Runs the job's failed items again on the cluster (RetryJob), as a new job linked to this one. */
  retryFailed(): void;
  /** Deletes the job and its data for good (the person confirmed). */
  deleteJob(): void;
  compare(row: Row): void;
  download(row: Row): void;
  /** Run these rows again: with the old job's options ("same") or the options panel's ("current"). */
  rerun(rows: Row[], options: "same" | "current"): void;
  remove(rows: Row[]): void;
  /** "Retry with…": the person is about to pick other options for these rows. */
  chooseOptions(): void;
  rename(label: string): void;
  acceptPending(): void;
  discardPending(): void;
}

export interface JobView {
  setRows(rows: readonly Row[]): void;
  /** Redraws one row (and the head) at the next frame. */
  touch(row: Row): void;
  setStage(stage: Stage): void;
  /** Something went wrong at the batch level (SubmitJob refused, say): shown in the head until the next stage. */
  setError(message: string): void;
  /** Files dropped while a job runs, waiting for the person's word (0: none). */
  setPending(count: number): void;
  setThumbnails(byItem: ReadonlyMap<string, string>): void;
  /** The rows shown, in the order shown (compare steps through them). */
  visibleRows(): Row[];
  /** The name the person typed for the batch about to be sent; "" leaves it to be named after its files. */
  batchName(): string;
  /** Brings the batch into view when it starts below the fold (a phone, after choosing files). */
  reveal(): void;
  /** What the options ask the next job to do: its button says it ("Detect objects in 3 images"). */
  setWork(work: WorkChoice): void;
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

const filterLabels: Record<Filter, string> = { all: "All", done: "Done", kept: "Kept", failed: "Failed" };

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
  let pending = 0;
  let work: WorkChoice = "compress";
  const dirty = new Set<Row>();
  let frame = 0;

  const table = createItemTable(
    (action: RowAction, row: Row) => {
      if (action === "compare") actions.compare(row);
      else if (action === "download") actions.download(row);
      else if (action === "retry") actions.rerun([row], "same");
      else if (action === "remove") actions.remove([row]);
      else {
        table.select([row], true);
        actions.chooseOptions();
      }
    },
    () => schedule(),
  );

  const title = h("h2", { id: "job-title" });
  const rename = h("button", { type: "button", class: "link-button", id: "job-rename", hidden: true }, "Rename");
  const labelInput = h("input", {
    type: "text",
    id: "job-label",
    maxlength: 200,
    "aria-label": "Name of this job",
    hidden: true,
  });
  // Before Compress: the job's name, named after its files (the placeholder) unless the person types another.
  // After, a job's label cannot change on the cluster; Rename keeps a name in this browser instead.
  const nameInput = h("input", { type: "text", id: "batch-name", maxlength: 200, autocomplete: "off" });
  const nameField = h("label", { class: "batch-name", hidden: true }, "Job name ", nameInput);
  const parentLine = h("p", { class: "parent-line", id: "job-parent", hidden: true });
  const stateChip = h("span", { class: "chip", id: "job-state" });
  const watchChip = h("span", { class: "chip", id: "job-connection", role: "status" });
  const errorLine = h("p", { class: "job-error", id: "job-error", role: "alert" });
  // Why the job waits, when it does (no live worker can do a kind of work it asks for).
  const noticeLine = h("p", { class: "job-notice", id: "job-notice", role: "status" });
  const pendingText = h("span", { class: "notice-text" });
  const pendingBar = h(
    "div",
    { class: "notice", id: "pending-files", role: "status", hidden: true },
    pendingText,
    h(
      "button",
      { type: "button", class: "button small primary", id: "pending-accept", onclick: () => actions.acceptPending() },
      "Start a new batch with them",
    ),
    h(
      "button",
      { type: "button", class: "button small", id: "pending-discard", onclick: () => actions.discardPending() },
      "Not now",
    ),
  );
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
    refused: total("Refused", "total-refused"),
    before: total("Before", "total-before"),
    after: total("After", "total-after"),
    saving: total("Saved", "total-saving"),
    time: total("Time", "total-time"),
  };
  const compress = h("button", { type: "button", class: "button primary", id: "compress" }, "Compress");
  const clear = h("button", { type: "button", class: "button", id: "clear" }, "Clear list");
  const cancel = h("button", { type: "button", class: "button danger", id: "cancel" }, "Cancel");
  const remove = h("button", { type: "button", class: "button danger", id: "delete-job" }, "Delete job");
  const zip = h("a", { class: "button primary", id: "download-zip", download: "" }, "Download all (.zip)");
  const csv = h("a", { class: "button", id: "download-csv", download: "" }, "Report (.csv)");
  // With an API key the links cannot carry it: fetch with the header, then save. Without one the browser
  // streams the file to disk itself, however large the zip.
  for (const [link, name] of [
    [zip, ".zip"],
    [csv, "-report.csv"],
  ] as const) {
    link.addEventListener("click", (event) => {
      if (!apiKey() || stage.kind !== "job") return;
      event.preventDefault();
      fetchAndSave(link.href, `${downloadStem(stage.title, stage.jobId)}${name}`, true).catch((err: unknown) => {
        error = `The download failed: ${(err as Error).message}`;
        schedule();
      });
    });
  }
  compress.addEventListener("click", () => actions.compress());
  remove.addEventListener("click", () => {
    const sure = window.confirm(
      "Delete this job for good? Its results, its report and the originals uploaded for it are removed from the cluster.",
    );
    if (sure) actions.deleteJob();
  });
  clear.addEventListener("click", () => actions.clear());
  cancel.addEventListener("click", () => actions.cancel());

  const startRename = () => {
    if (stage.kind !== "job") return;
    labelInput.value = stage.title;
    labelInput.hidden = false;
    title.hidden = rename.hidden = true;
    labelInput.focus();
    labelInput.select();
  };
  const endRename = (save: boolean) => {
    if (labelInput.hidden) return;
    labelInput.hidden = true;
    title.hidden = false;
    if (save) actions.rename(labelInput.value);
    schedule();
  };
  rename.addEventListener("click", startRename);
  labelInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") endRename(true);
    else if (event.key === "Escape") endRename(false);
  });
  labelInput.addEventListener("blur", () => endRename(true));

  // Filters and sort.
  const filterButtons = filters.map((f) =>
    h("button", { type: "button", class: "button small", "data-filter": f, "aria-pressed": String(f === "all") }),
  );
  const filterGroup = h("div", { class: "group filters", role: "group", "aria-label": "Show" }, ...filterButtons);
  filterGroup.addEventListener("click", (event) => {
    const f = (event.target as Element).closest<HTMLButtonElement>("button[data-filter]")?.dataset.filter as Filter;
    if (!f) return;
    for (const b of filterButtons) b.setAttribute("aria-pressed", String(b.dataset.filter === f));
    table.setFilter(f);
    schedule();
  });
  const sortSelect = h(
    "select",
    { id: "sort", "aria-label": "Sort by" },
    h("option", { value: "added" }, "In order added"),
    h("option", { value: "name" }, "Name"),
    h("option", { value: "size" }, "Size (largest first)"),
    h("option", { value: "saving" }, "Saving (most first)"),
  );
  sortSelect.addEventListener("change", () => table.setSort(sortSelect.value as Sort));
  // By what detection found: offered once a row has labels.
  const labelSelect = h("select", { id: "label-filter", "aria-label": "Show images with" });
  const labelFilter = h(
    "label",
    { class: "sort label-filter", hidden: true },
    h("span", { class: "visually-hidden" }, "Show images with"),
    labelSelect,
  );
  labelSelect.addEventListener("change", () => {
    table.setLabel(labelSelect.value);
    schedule();
  });

  // What to do with a finished job's images: without uploading anything again.
  const retryFailed = h("button", { type: "button", class: "button small", id: "retry-failed" }, "Retry failed");
  const rerunSelected = h("button", { type: "button", class: "button small primary", id: "rerun-selected" });
  const rerunAll = h(
    "button",
    {
      type: "button",
      class: "button small",
      id: "rerun-all",
      title: "Runs every original again with the options as they are set now",
    },
    "Re-run all with current options",
  );
  const removeSelected = h("button", { type: "button", class: "button small", id: "remove-selected" });
  retryFailed.addEventListener("click", () => actions.retryFailed());
  rerunSelected.addEventListener("click", () => actions.rerun(table.selected(), "current"));
  rerunAll.addEventListener("click", () => actions.rerun([...rows], "current"));
  removeSelected.addEventListener("click", () => actions.remove(table.selected()));
  const toolbar = h(
    "div",
    { class: "list-tools" },
    filterGroup,
    labelFilter,
    h("label", { class: "sort" }, h("span", { class: "visually-hidden" }, "Sort by"), sortSelect),
    h("div", { class: "rerun-tools", id: "rerun-tools" }, retryFailed, rerunSelected, removeSelected, rerunAll),
  );

  const summary = h(
    "div",
    { class: "job-summary" },
    h(
      "div",
      { class: "job-head" },
      h("div", { class: "job-title-row" }, title, labelInput, rename, stateChip, watchChip),
      h("div", { class: "job-actions" }, compress, cancel, zip, csv, clear, remove),
    ),
    nameField,
    parentLine,
    errorLine,
    noticeLine,
    pendingBar,
    progress,
    h("dl", { class: "totals" }, ...Object.values(totals).map((t) => t.el)),
  );
  const section = h(
    "section",
    { class: "job panel", "aria-labelledby": "job-title", hidden: true },
    summary,
    toolbar,
    table.el,
  );
  root.replaceChildren(section);

  function drawHead(): void {
    section.hidden = stage.kind === "empty" && rows.length === 0;
    const t = totalsOf(rows);
    const ready = rows.filter((r) => r.phase === "ready").length;
    const job = stage.kind === "job" ? stage.job : undefined;
    const ended = job !== undefined && isTerminalJobState(job.state);
    if (stage.kind === "job") section.dataset.job = stage.jobId;
    else delete section.dataset.job;

    let heading = "";
    let fraction = 0;
    switch (stage.kind) {
      case "empty":
      case "staged":
        heading = `${ready} ${ready === 1 ? "image" : "images"} ready`;
        break;
      case "uploading": {
        const sending = rows.filter((r) => r.phase !== "refused");
        const loaded = sending.reduce(
          (sum, r) => sum + (r.phase === "uploading" ? r.loaded : r.phase === "uploaded" ? r.size : 0),
          0,
        );
        const done = sending.filter((r) => r.phase === "uploaded").length;
        heading = `Uploading ${done} of ${sending.length}`;
        fraction = t.all > 0 ? loaded / t.all : 0;
        break;
      }
      case "submitting":
        heading = "Starting the job…";
        fraction = 1;
        break;
      case "job":
        heading = stage.title;
        if (t.images > 0) fraction = t.finished / t.images;
        break;
    }
    if (title.textContent !== heading) title.textContent = heading;
    nameField.hidden = stage.kind !== "staged" || ready === 0;
    const named = labelFor(rows.filter((r) => r.phase === "ready").map((r) => r.name));
    if (nameInput.placeholder !== named) nameInput.placeholder = named;
    rename.hidden = stage.kind !== "job" || !labelInput.hidden;
    progress.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    progress.hidden = stage.kind === "staged" || stage.kind === "empty";
    bar.style.width = `${(fraction * 100).toFixed(1)}%`;

    parentLine.hidden = !(stage.kind === "job" && stage.parent);
    if (stage.kind === "job" && stage.parent) {
      const link = h("a", { href: `#/jobs/${encodeURIComponent(stage.parent.id)}` }, stage.parent.title);
      const text = `Re-run of ${stage.parent.title}`;
      if (parentLine.textContent !== text) parentLine.replaceChildren("Re-run of ", link);
    }

    const stateText = job ? jobStateLabels[job.state] : stage.kind === "job" ? "Loading…" : "";
    setText(stateChip, stateText);
    stateChip.hidden = stateText === "";
    stateChip.dataset.state = job ? JobState[job.state] : "";
    const watch = stage.kind === "job" ? watchLabel(stage.watch) : { text: "", tone: "" };
    setText(watchChip, watch.text);
    watchChip.hidden = watch.text === "";
    watchChip.dataset.tone = watch.tone;
    setText(errorLine, error || (stage.kind === "job" ? (stage.error ?? job?.error ?? "") : ""));
    setText(noticeLine, job?.notice ?? "");
    noticeLine.hidden = !job?.notice;
    pendingBar.hidden = pending === 0;
    setText(
      pendingText,
      `${pending} new ${pending === 1 ? "file" : "files"} dropped. This job keeps running either way, and stays under Recent jobs.`,
    );

    compress.hidden = stage.kind !== "staged";
    compress.disabled = ready === 0;
    const verb = work === "detect" ? "Detect objects" : "Compress";
    const count = `${ready} ${ready === 1 ? "image" : "images"}`;
    setText(compress, ready === 0 ? verb : work === "detect" ? `${verb} in ${count}` : `${verb} ${count}`);
    cancel.hidden = !(stage.kind === "uploading" || (stage.kind === "job" && job !== undefined && !ended));
    setText(cancel, stage.kind === "uploading" ? "Cancel upload" : "Cancel job");
    zip.hidden = csv.hidden = !(stage.kind === "job" && ended && job.state !== JobState.FAILED && t.done + t.kept > 0);
    if (stage.kind === "job") {
      // The gateway names the file (Content-Disposition, which wins over `download`) after the name passed, so
      // a rename kept only in this browser still names the download; both make it safe the same way.
      const named = `?name=${encodeURIComponent(stage.title.slice(0, 100))}`;
      zip.href = `${resultsZipUrl(stage.jobId)}${named}`;
      csv.href = `${reportCsvUrl(stage.jobId)}${named}`;
      const stem = downloadStem(stage.title, stage.jobId);
      zip.download = `${stem}.zip`;
      csv.download = `${stem}-report.csv`;
    }
    remove.hidden = !(stage.kind === "job" && job !== undefined);
    clear.hidden = stage.kind === "uploading" || stage.kind === "submitting" || (stage.kind === "job" && !ended);
    setText(clear, stage.kind === "job" ? "New batch" : "Clear list");

    drawTotals(t, job);
    drawTools(t, ended);
  }

  function drawTotals(t: Totals, job: Job | undefined): void {
    const inJob = stage.kind === "job";
    setText(totals.images.value, inJob ? `${t.finished} of ${t.images}` : String(t.images));
    totals.failed.el.hidden = !inJob;
    setText(totals.failed.value, String(t.failed));
    totals.refused.el.hidden = t.refused === 0;
    setText(totals.refused.value, String(t.refused));
    const withResults = t.done + t.kept;
    if (!inJob) {
      setText(totals.before.term, "Before");
      setText(totals.before.value, formatBytes(t.all));
    } else {
      // Sizes and the saving cover the images that have a result, so failed images cannot inflate the saving.
      setText(totals.before.term, withResults > 0 && withResults < t.images ? `Before (${withResults})` : "Before");
      setText(totals.before.value, withResults > 0 ? formatBytes(t.before) : "—");
    }
    setText(totals.after.value, withResults > 0 ? formatBytes(t.after) : "—");
    const saving = withResults > 0 ? formatSaving(t.before, t.after) : "";
    setText(totals.saving.value, saving || "—");
    totals.saving.value.dataset.sign = saving.startsWith("−") ? "smaller" : saving.startsWith("+") ? "larger" : "";
    const start = job?.startedAt ?? job?.createdAt;
    if (!start) {
      setText(totals.time.term, "Time");
      setText(totals.time.value, "—");
      return;
    }
    const elapsed = (job?.finishedAt ? timestampMs(job.finishedAt) : Date.now()) - timestampMs(start);
    const left = job && !isTerminalJobState(job.state) ? remainingMs(t, elapsed) : undefined;
    setText(totals.time.term, left === undefined ? "Time" : "Time · left");
    setText(
      totals.time.value,
      left === undefined ? formatDuration(elapsed) : `${formatDuration(elapsed)} · ~${formatDuration(left)}`,
    );
  }

  function drawLabelFilter(choices: readonly string[]): void {
    labelFilter.hidden = choices.length === 0;
    const options = ["", ...choices];
    if ([...labelSelect.options].map((o) => o.value).join("\n") === options.join("\n")) return;
    const picked = options.includes(labelSelect.value) ? labelSelect.value : "";
    labelSelect.replaceChildren(
      ...options.map((value) => h("option", { value }, value === "" ? "Any object" : `With ${value}`)),
    );
    labelSelect.value = picked;
    table.setLabel(picked);
  }

  function drawTools(t: Totals, ended: boolean): void {
    toolbar.hidden = rows.length === 0;
    const counts: Record<Filter, number> = {
      all: rows.length,
      done: t.done,
      kept: t.kept,
      failed: t.failed + t.refused,
    };
    for (const b of filterButtons)
      setText(b, `${filterLabels[b.dataset.filter as Filter]} ${counts[b.dataset.filter as Filter]}`);
    drawLabelFilter(labelChoices(rows));
    const chosen = table.selected().length;
    retryFailed.hidden = !(ended && t.failed > 0);
    setText(retryFailed, `Retry ${t.failed} failed`);
    rerunSelected.hidden = !(ended && chosen > 0);
    setText(rerunSelected, `Run ${chosen} selected again with current options`);
    removeSelected.hidden = !(ended && chosen > 0);
    setText(removeSelected, `Remove ${chosen} from the list`);
    rerunAll.hidden = !ended;
    table.setJobEnded(ended);
  }

  function schedule(): void {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      table.draw(dirty);
      dirty.clear();
      table.arrange();
      drawHead();
    });
  }

  // The elapsed time, the estimate and the running rows' seconds move while a job runs.
  setInterval(() => {
    if (stage.kind !== "job" || !stage.job || isTerminalJobState(stage.job.state) || document.hidden) return;
    for (const row of rows) if (row.phase === "running") dirty.add(row);
    schedule();
  }, 1000);

  return {
    setRows(next) {
      rows = next;
      table.setRows(next);
      schedule();
    },
    touch(row) {
      dirty.add(row);
      schedule();
    },
    setStage(next) {
      const starting = next.kind === "uploading" && stage.kind !== "uploading";
      // A name typed for one batch is not the next one's.
      if (next.kind === "empty" || next.kind === "job") nameInput.value = "";
      stage = next;
      error = "";
      schedule();
      if (starting) this.reveal();
    },
    batchName: () => nameInput.value.trim(),
    setError(message) {
      error = message;
      schedule();
    },
    setPending(count) {
      pending = count;
      schedule();
    },
    setThumbnails(byItem) {
      table.setThumbnails(byItem);
    },
    visibleRows: () => table.visible(),
    setWork(next) {
      work = next;
      schedule();
    },
    reveal() {
      // On a phone the options sit between the drop area and the list: bring the batch (and its Compress
      // button) into view, once it has been drawn.
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          if (section.getBoundingClientRect().top > window.innerHeight * 0.6)
            section.scrollIntoView({ block: "start" });
        }),
      );
    },
  };
}
