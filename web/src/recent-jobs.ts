/**
 * The jobs submitted from this browser, remembered so a person can go back to one (results stay on the
 * server), with what only this browser knows of them: the name the person gave a job, and which job a
 * re-run came from.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Job } from "@imgc/proto";
import { h } from "./dom.js";
import { loadJson, saveJson } from "./storage.js";

interface RecentJob {
  id: string;
  label: string;
  at: number;
}

interface JobNote {
  /** The name the person gave the job ("" when none). */
  label?: string;
  /** The job this one re-ran. */
  parent?: string;
}

const storageKey = "imgc.recent-jobs.v1";
const notesKey = "imgc.job-notes.v1";
const keep = 10;
const keepNotes = 200;

function load(): RecentJob[] {
  const value = loadJson(storageKey);
  if (!Array.isArray(value)) return [];
  return value.filter(
    (j): j is RecentJob =>
      typeof j === "object" &&
      j !== null &&
      typeof j.id === "string" &&
      typeof j.label === "string" &&
      typeof j.at === "number",
  );
}

function loadNotes(): Record<string, JobNote> {
  const value = loadJson(notesKey);
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, JobNote>) : {};
}

function saveNote(id: string, note: JobNote): void {
  const notes = loadNotes();
  notes[id] = { ...notes[id], ...note };
  // Oldest first out: object keys keep their insertion order.
  const ids = Object.keys(notes);
  for (const old of ids.slice(0, Math.max(0, ids.length - keepNotes))) delete notes[old];
  saveJson(notesKey, notes);
}

export interface RecentJobs {
  /** A job was submitted here; `parent` is the job it re-runs. */
  remember(job: Job, parent?: string): void;
  /** Marks the job being shown. */
  setCurrent(jobId: string | undefined): void;
  /** The name the person gave the job, or "". */
  labelOf(jobId: string): string;
  parentOf(jobId: string): string | undefined;
  rename(jobId: string, label: string): void;
  /** The job was deleted: it leaves the list. */
  forget(jobId: string): void;
}

export function createRecentJobs(root: HTMLElement): RecentJobs {
  let current: string | undefined;
  const list = h("ol", { class: "recent-list" });
  const section = h(
    "section",
    { class: "panel recent", "aria-labelledby": "recent-title" },
    h("h2", { id: "recent-title" }, "Recent jobs"),
    list,
  );
  root.replaceChildren(section);

  function render(): void {
    const jobs = load();
    const notes = loadNotes();
    section.hidden = jobs.length === 0;
    const when = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
    list.replaceChildren(
      ...jobs.map((job) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              class: "recent-link",
              href: `#/jobs/${encodeURIComponent(job.id)}`,
              ...(job.id === current ? { "aria-current": "page" } : {}),
            },
            h("span", { class: "recent-label" }, notes[job.id]?.label || job.label || job.id),
            h("span", { class: "recent-when" }, when.format(job.at)),
          ),
        ),
      ),
    );
  }

  render();
  return {
    remember(job, parent) {
      const at = job.createdAt ? timestampMs(job.createdAt) : Date.now();
      const jobs = [{ id: job.id, label: job.label, at }, ...load().filter((j) => j.id !== job.id)].slice(0, keep);
      saveJson(storageKey, jobs);
      if (parent) saveNote(job.id, { parent });
      render();
    },
    setCurrent(jobId) {
      current = jobId;
      render();
    },
    labelOf: (jobId) => loadNotes()[jobId]?.label ?? "",
    parentOf: (jobId) => loadNotes()[jobId]?.parent,
    rename(jobId, label) {
      saveNote(jobId, { label });
      render();
    },
    forget(jobId) {
      saveJson(
        storageKey,
        load().filter((job) => job.id !== jobId),
      );
      if (current === jobId) current = undefined;
      render();
    },
  };
}
